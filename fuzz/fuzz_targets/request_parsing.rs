#![no_main]
//! Both services' request parsing on the same bytes; whatever the proxy accepts, the model
//! server accepts as it is forwarded.

/// Small, so that over-limit bodies are reachable.
const MAX_IMAGE_BYTES: usize = 4_096;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (content_type, body) = model_server::fuzzing::split_request(data);
    model_server::fuzzing::parse_request(content_type, None, body, MAX_IMAGE_BYTES);
    if let Some(forwarded) =
        proxy::fuzzing::validate_request(content_type, None, body, MAX_IMAGE_BYTES)
    {
        model_server::fuzzing::check_forwarded(
            &forwarded.image,
            forwarded.kind.mime(),
            forwarded.top_k,
            MAX_IMAGE_BYTES,
        );
    }
});
