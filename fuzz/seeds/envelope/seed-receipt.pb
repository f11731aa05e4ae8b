
h
 lWPL™Qø|Şªqt	™bGı9€:AdİV)ªuÔ!
cut-brazil2009 (0: lWPL™Qø|Şªqt	™bGı9€:AdİV)ªuÔ!@äöôÙH²öôÙ,application/vnd.alliance.receipt.v1+protobuf„
@ËTÇê³÷èJŸ$·”¯Š†,OÈC~OÅÆ	¨atkÀú‡öíy’Ÿ¥Ô0vºLíµÈÜ»;¹©âkl@34750f98bd59fcfc946da45aaabe933be154a4b5094e1c4abf42866505f3c97e