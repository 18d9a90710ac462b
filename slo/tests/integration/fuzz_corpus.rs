//! Replays the EMF fuzzer's committed seeds and regressions (fuzz/seeds, fuzz/regressions)
//! through the checks of the `emf_parser` target, on stable.

use std::path::Path;

#[test]
fn every_emf_seed_and_regression_is_read_without_breaking_a_property() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for kind in ["seeds", "regressions"] {
        let dir = fuzz.join(kind).join("emf_parser");
        if !dir.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| slo::fuzzing::emf_lines(&data));
            assert!(outcome.is_ok(), "{} broke a property", path.display());
            replayed += 1;
        }
    }
    assert!(replayed >= 5, "only {replayed} EMF seeds");
}

#[test]
fn recorded_emf_lines_are_counted_as_records() {
    let seed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/emf_parser/recorded-proxy-run");
    let text = std::fs::read_to_string(seed).unwrap();
    let mut logs = slo::source::EmfLogs::default();
    for line in text.lines() {
        logs.add_line(line);
    }
    assert_eq!((logs.records, logs.invalid), (text.lines().count(), 0));
}
