//! PLACEHOLDER until the filters land.
pub fn register(_env: &mut minijinja::Environment<'static>) {}
