#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| model_server::fuzzing::decode_and_preprocess(data));
