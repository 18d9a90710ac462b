//! Replays the request fuzzer's committed seeds and regressions (fuzz/seeds, fuzz/regressions)
//! through the checks of the `request_parsing` target, on stable: the proxy's validation
//! holds its properties, and what it forwards the model server accepts unchanged.

use std::path::Path;

/// The target's limit (fuzz/fuzz_targets/request_parsing.rs).
const MAX_IMAGE_BYTES: usize = 4_096;

#[test]
fn whatever_the_proxy_accepts_the_model_server_accepts_as_forwarded() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    let mut forwarded = 0;
    for kind in ["seeds", "regressions"] {
        let dir = fuzz.join(kind).join("request_parsing");
        if !dir.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let (content_type, body) = model_server::fuzzing::split_request(&data);
            let outcome = std::panic::catch_unwind(|| {
                proxy::fuzzing::validate_request(content_type, None, body, MAX_IMAGE_BYTES).map(
                    |p| {
                        model_server::fuzzing::check_forwarded(
                            &p.image,
                            p.kind.mime(),
                            p.top_k,
                            MAX_IMAGE_BYTES,
                        );
                    },
                )
            });
            match outcome {
                Ok(Some(())) => forwarded += 1,
                Ok(None) => {}
                Err(_) => panic!("{} broke a property", path.display()),
            }
            replayed += 1;
        }
    }
    assert!(replayed >= 40, "only {replayed} request seeds");
    // The corpus holds valid images too: the cross-check ran on some.
    assert!(forwarded >= 5, "only {forwarded} seeds were forwarded");
}
