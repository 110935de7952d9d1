#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kindform_fuzz::duration(data));
