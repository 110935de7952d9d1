//! `kindform status`: observes every resource once, without planning or
//! locking, and prints each one's health with its evidence.

use super::{Failure, colour, error_chain, load, runtime, state_dir};
use crate::cli::GlobalArgs;
use crate::plan::PlanOptions;
use crate::status::Status;

/// Exit 0 when everything is healthy, 2 when anything is degraded or broken.
pub(super) fn status(global: &GlobalArgs, json: bool) -> Result<i32, Failure> {
    let loaded = load(global)?;
    let observed = runtime()?
        .block_on(async {
            let session = crate::observe::session(&loaded.spec, state_dir(&loaded), 10).await?;
            crate::observe::observe(
                &loaded.spec,
                &loaded.graph,
                &session,
                &PlanOptions::default(),
            )
            .await
        })
        .map_err(|e| Failure(error_chain(&e)))?
        .observed;
    let status = Status::of(&loaded.spec.name, &loaded.graph, &observed);
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
        print!("{}", crate::render::status_text(&status, colour(global)));
    }
    Ok(if status.healthy() { 0 } else { 2 })
}
