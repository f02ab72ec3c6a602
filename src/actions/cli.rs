//! `switchboard action NAME FILE:LINE[:COL[-LINE:COL]] [--apply]`: the same actions from a shell.
//! (Being written: see issue 5.)

pub async fn run(name: &str, location: &str, _apply: bool) -> anyhow::Result<()> {
    anyhow::bail!("`switchboard action {name} {location}`: code actions are not available yet")
}
