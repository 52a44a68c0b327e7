//! Broken releases when machines are pure state (no [`super::runtime`]): a machine of an
//! image in the world's `broken_images` exits with code 1 as soon as it has started,
//! with an `exit` event as flyd writes one, and its restart policy decides what follows,
//! as it does for a process (`restarting`, then `started` again and the next exit, until
//! the policy gives up and the machine is `stopped`). Time here is the simulator's
//! transition time: the exit comes one transition after the start, each restart one
//! transition after the exit. Its checks are critical from its first start on (the
//! gateway never listens), until a start of a sound image.

use serde_json::{Value, json};

use super::runtime::restart::{Exit, Policy, exit_request};
use super::world::{MachineState, World};

/// The exit of a broken release's gateway.
const EXIT: Exit = Exit {
    code: Some(1),
    signal: None,
};

/// Whether the machine, now `started` at `epoch`, runs a broken image.
pub fn is_broken(world: &World, app: &str, id: &str, epoch: u64) -> bool {
    world.epoch_of(app, id) == Some((MachineState::Started, epoch))
        && world
            .image_of(app, id)
            .is_some_and(|image| world.broken_images.contains(image))
}

/// Makes the checks of a machine that runs a broken image critical, or, when `broken`
/// is false, gives them back to the simulated ones (passing while started).
pub fn set_checks(world: &mut World, app: &str, id: &str, broken: bool) {
    let checks: Vec<Value> = if broken {
        let Ok(machine) = world.app(app).and_then(|a| a.machine(id)) else {
            return;
        };
        machine.config["checks"]
            .as_object()
            .into_iter()
            .flat_map(|checks| checks.keys())
            .map(|name| {
                json!({ "name": name, "status": "critical",
                        "output": "the gateway exited: it refused its configuration",
                        "updated_at": machine.updated_at })
            })
            .collect()
    } else {
        Vec::new()
    };
    world.set_checks(app, id, checks);
}

/// What became of a machine of a broken image at the moment it was to exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exited {
    /// It no longer runs as it did (stopped, updated, destroyed): nothing to do.
    Moved,
    /// Its image was mended since it started: it runs on.
    Mended,
    /// It exited and its restart policy gave up: `stopped`.
    Stopped,
    /// It exited and is `restarting` at this epoch.
    Restarting(u64),
}

/// The exit of a machine that started at `epoch`, after `restarts` restarts in a row:
/// an `exit` event with code 1, then `restarting` or `stopped` as its policy says.
pub fn exit(world: &mut World, app: &str, id: &str, epoch: u64, restarts: u32) -> Exited {
    if world.epoch_of(app, id) != Some((MachineState::Started, epoch)) {
        return Exited::Moved;
    }
    if !is_broken(world, app, id, epoch) {
        set_checks(world, app, id, false);
        return Exited::Mended;
    }
    let Ok(config) = world
        .app(app)
        .and_then(|a| a.machine(id))
        .map(|m| m.config.clone())
    else {
        return Exited::Moved;
    };
    let restart = Policy::from_config(&config).restarts_after(EXIT, restarts);
    let request = exit_request(EXIT, false, restart, restarts, false);
    let to = if restart {
        MachineState::Restarting
    } else {
        MachineState::Stopped
    };
    match world.move_on_its_own(app, id, to, ("exit", to.as_str()), Some(request)) {
        Some(epoch) if restart => Exited::Restarting(epoch),
        Some(_) => Exited::Stopped,
        None => Exited::Moved,
    }
}

/// The restart of a machine `restarting` since `epoch`: `started` again, with its
/// checks as its image makes them; the new epoch, or `None` when something else moved
/// it meanwhile.
pub fn restart(world: &mut World, app: &str, id: &str, epoch: u64) -> Option<u64> {
    if world.epoch_of(app, id) != Some((MachineState::Restarting, epoch)) {
        return None;
    }
    let started =
        world.move_on_its_own(app, id, MachineState::Started, ("start", "started"), None)?;
    let broken = is_broken(world, app, id, started);
    set_checks(world, app, id, broken);
    Some(started)
}
