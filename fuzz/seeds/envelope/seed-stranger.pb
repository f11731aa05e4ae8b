

abc+application/vnd.alliance.report.v1+protobuf„
@œ7½ È’·¾x„Œ)¿´i2&Ñ¥­&÷¶y‚=?ø‰¥ñ=¿„È3ÂÃDSï`š·S#rÜ‚çï¸Ç05
@b600306cfa76723fdec395e53a9b3d9fdb78b1e2d7a23c32fcbcd2dc6d0c4092