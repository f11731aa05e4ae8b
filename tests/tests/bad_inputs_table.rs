//! `tests/README.md` maps every case of BAD_INPUTS.md to the tests that cover it. This keeps the
//! table true: every case from 1 to 26 has a row naming at least one test, and every test named
//! (`path/to/file.rs::function`) is a test function in that file.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::Path;

use alliance_tests::workspace_root;

/// The cases of BAD_INPUTS.md.
const CASES: RangeInclusive<u32> = 1..=26;

#[test]
fn every_bad_input_has_a_row_and_every_test_named_exists() {
    let root = workspace_root();
    let readme = root.join("tests/README.md");
    let table = std::fs::read_to_string(&readme)
        .unwrap_or_else(|e| panic!("could not read {}: {e}", readme.display()));

    let problems = problems(&table, root, CASES);

    assert!(
        problems.is_empty(),
        "tests/README.md is not true:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_table_covers_the_cases_bad_inputs_md_numbers() {
    // BAD_INPUTS.md lives beside the repository (`../shared`), which a clone of the repository
    // alone does not have; then the count above is what this test cannot check.
    let path = workspace_root().join("../shared/BAD_INPUTS.md");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("skipped: {} is not there to count", path.display());
        return;
    };
    let numbered: Vec<u32> = text
        .lines()
        .filter_map(|line| line.split_once(". "))
        .filter_map(|(number, _)| number.parse().ok())
        .collect();
    let expected: Vec<u32> = CASES.collect();
    assert_eq!(numbered, expected, "BAD_INPUTS.md numbers other cases");
}

#[test]
fn a_missing_case_an_unknown_file_and_a_missing_or_untested_function_are_caught() {
    // This file itself holds the functions named: one test, one helper that is not a test.
    let this = "tests/tests/bad_inputs_table.rs";
    let table = format!(
        "| Case | What | Tests |\n|---:|---|---|\n\
         | 1 | a | `{this}::every_bad_input_has_a_row_and_every_test_named_exists` |\n\
         | 3 | c | `{this}::no_such_function`<br>`{this}::problems` |\n\
         | 4 | d | `tests/tests/no_such_file.rs::anything` |\n\
         | 5 | e | nothing named |\n"
    );

    let problems = problems(&table, workspace_root(), 1..=5);

    let expected = [
        "case 2 has no row",
        "no_such_function",
        "problems",
        "no_such_file.rs",
        "case 5 names no test",
    ];
    for word in expected {
        assert!(
            problems.iter().any(|p| p.contains(word)),
            "{word:?} was not caught: {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
}

/// What is wrong with `table` (the README's text) for `cases`, with files read from `root`.
fn problems(table: &str, root: &Path, cases: RangeInclusive<u32>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut rows: BTreeMap<u32, Vec<(String, String)>> = BTreeMap::new();
    for line in table.lines() {
        let Some(row) = line.trim().strip_prefix('|') else {
            continue;
        };
        let Some(case) = row
            .split('|')
            .next()
            .and_then(|cell| cell.trim().parse::<u32>().ok())
        else {
            continue;
        };
        if !cases.contains(&case) {
            problems.push(format!("case {case} is not a case of BAD_INPUTS.md"));
        }
        if rows.contains_key(&case) {
            problems.push(format!("case {case} has two rows"));
        }
        rows.insert(case, tests_named(row));
    }
    for case in cases {
        match rows.get(&case) {
            None => problems.push(format!("case {case} has no row")),
            Some(tests) if tests.is_empty() => problems.push(format!("case {case} names no test")),
            Some(tests) => {
                for (file, function) in tests {
                    if let Err(problem) = check_test(root, file, function) {
                        problems.push(format!("case {case}: {file}::{function}: {problem}"));
                    }
                }
            }
        }
    }
    problems
}

/// The tests a row names: every `path.rs::function` between backticks.
fn tests_named(row: &str) -> Vec<(String, String)> {
    row.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|quoted| quoted.split_once(".rs::"))
        .map(|(file, function)| (format!("{file}.rs"), function.to_owned()))
        .collect()
}

/// Whether `file` (from `root`) has a function `function` marked as a test: `#[test]` or
/// `#[tokio::test]` among the attributes above it (inside `proptest!` too).
fn check_test(root: &Path, file: &str, function: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(root.join(file)).map_err(|e| format!("{e}"))?;
    let lines: Vec<&str> = text.lines().collect();
    let declared = |line: &str| {
        let line = line.trim_start();
        let line = line.strip_prefix("async ").unwrap_or(line);
        line.strip_prefix("fn ")
            .and_then(|rest| rest.strip_prefix(function))
            .is_some_and(|rest| rest.starts_with('(') || rest.starts_with('<'))
    };
    let at = lines
        .iter()
        .position(|line| declared(line))
        .ok_or("no such function")?;
    let is_test = lines[..at]
        .iter()
        .rev()
        .map(|line| line.trim())
        .take_while(|line| line.starts_with("#[") || line.starts_with("//"))
        .any(|line| line == "#[test]" || line.starts_with("#[tokio::test"));
    if is_test {
        Ok(())
    } else {
        Err("the function is not a test".to_owned())
    }
}
