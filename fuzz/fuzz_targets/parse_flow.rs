//! Any text given to the flow parser yields a flow or diagnostics, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(source) = std::str::from_utf8(data) {
        let parsed = baton_core::parse::parse_flow(source);
        if let Some(flow) = &parsed.flow {
            let _ = baton_core::topology::Graph::of(flow);
            let _ = baton_core::topology::render_tree(flow);
        }
    }
});
