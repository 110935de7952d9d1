//! `kindform status`: observes every resource once, without planning or
//! locking, and prints each one's health with its evidence.

use super::{Exit, Failure, colour, load, runtime};
use crate::cli::GlobalArgs;
use crate::engine::Engine;

/// Exit 0 when everything is healthy, 2 when anything is degraded or broken.
pub(super) fn status(global: &GlobalArgs, json: bool) -> Result<Exit, Failure> {
    let loaded = load(global)?;
    let status = runtime()?
        .block_on(async {
            let session = Engine::connect(&loaded, 10).await?;
            Engine::new(&loaded, &session).status().await
        })
        .map_err(|e| Failure::of(&e))?;
    if json {
        println!("{}", crate::render::status_json(&status));
    } else if global.quiet {
        let (broken, degraded) = (
            status.count(kindform_api::HealthState::Broken),
            status.count(kindform_api::HealthState::Degraded),
        );
        if !status.healthy() {
            println!("{broken} broken, {degraded} degraded");
        }
    } else {
        print!(
            "{}",
            kindform_api::printable::printable_styled(&crate::render::status_text(
                &status,
                colour(global)
            ))
        );
    }
    Ok(if status.healthy() {
        Exit::Done
    } else {
        Exit::Attention
    })
}
