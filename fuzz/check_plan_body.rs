// The body of the `check_plan` fuzz target, shared with `tests/plan_props.rs` (which runs it
// on a corpus and on generated programs): checking any text and planning whatever the checker
// accepts must not panic, and an accepted program must plan or say why not.

/// Checks `src` (imports refused) and plans it when the checker finds no error.
pub fn check_and_plan(src: &str) {
    let checked = sslp::lang::check_source("fuzz.sslp", "fuzz.sslp", src, &mut sslp::lang::NoImports);
    if checked.diagnostics.iter().any(|d| d.is_error()) {
        return;
    }
    let Some(program) = checked.program else {
        panic!("the checker found no error but returned no program");
    };
    let (plan, diagnostics) = sslp::plan::plan(&program);
    assert!(
        plan.is_some() || diagnostics.iter().any(|d| d.is_error()),
        "a checked program neither planned nor reported an error"
    );
}
