#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| slo::fuzzing::emf_lines(data));
