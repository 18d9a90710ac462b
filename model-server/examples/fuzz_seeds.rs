//! Writes the bad-input corpus (test-support/src/corpus.rs) as seeds for the fuzzers:
//! `cargo run -p model-server --example fuzz_seeds` refreshes `fuzz/seeds/image_decode` and
//! `fuzz/seeds/request_parsing` (the EMF seeds are recorded log lines, kept by hand).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::path::Path;

use test_support::corpus;

/// Seeds larger than this slow every fuzzing iteration down; the corpus's big cases (size
/// limits, deep JSON) are better reached by the fuzzer's own mutations.
const MAX_SEED_BYTES: usize = 64 * 1024;

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn write(dir: &Path, seeds: impl IntoIterator<Item = (String, Vec<u8>)>) -> usize {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let mut written = 0;
    for (name, bytes) in seeds {
        if bytes.len() <= MAX_SEED_BYTES {
            std::fs::write(dir.join(slug(&name)), bytes).unwrap();
            written += 1;
        }
    }
    written
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    let cases = corpus::cases();
    let images = write(
        &root.join("image_decode"),
        cases
            .iter()
            .filter(|c| c.content_type != Some("application/json"))
            .map(|c| (c.name.clone(), c.body.clone())),
    );
    let requests = write(
        &root.join("request_parsing"),
        cases.iter().map(|c| {
            (
                c.name.clone(),
                model_server::fuzzing::join_request(c.content_type, &c.body),
            )
        }),
    );
    println!(
        "{images} image seeds, {requests} request seeds under {}",
        root.display()
    );
}
