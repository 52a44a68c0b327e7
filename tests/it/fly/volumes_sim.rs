//! The Fly simulator's volumes: every Volumes answer against the vendored Machines API
//! document, the rules of mounts (region, one machine per volume, no delete while
//! bound), the answers of full and over-quota regions, and, with machines running as
//! processes, the data that snapshots, restores and forks carry.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use fasterclaw_sim::fly::{FlySim, FlySimConfig, MachineRuntime, RegionFaults, VolumeState};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::conformance::validate;
use super::{sim_config, sim_with};

const APP: &str = "fc-vol";

/// A client of the simulator that checks each answer against the spec.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn new(sim: &FlySim) -> Self {
        fasterclaw::tls::install_crypto_provider();
        sim.set_rate_limits(false);
        let api = Self {
            http: reqwest::Client::new(),
            base: sim.base_url(),
            token: sim.token().to_owned(),
        };
        let (status, body) = api
            .call(
                "Apps_create",
                Method::POST,
                "/v1/apps",
                Some(json!({"name": APP, "org_slug": "personal"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        api
    }

    async fn call_full(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, HeaderMap) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        validate(operation, status, &bytes);
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value, headers)
    }

    async fn call(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, value, _) = self.call_full(operation, method, path, body).await;
        (status, value)
    }

    async fn expect(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        want: u16,
    ) -> Value {
        let (status, value) = self.call(operation, method, path, body).await;
        assert_eq!(status, want, "{operation} {path}: {value}");
        value
    }

    async fn volume(&self, request: Value) -> Value {
        self.expect(
            "Volumes_create",
            Method::POST,
            &format!("/v1/apps/{APP}/volumes"),
            Some(request),
            200,
        )
        .await
    }

    async fn get_volume(&self, id: &str) -> Value {
        self.expect(
            "Volumes_get_by_id",
            Method::GET,
            &format!("/v1/apps/{APP}/volumes/{id}"),
            None,
            200,
        )
        .await
    }

    async fn create_machine(&self, request: Value) -> (u16, Value) {
        self.call(
            "Machines_create",
            Method::POST,
            &format!("/v1/apps/{APP}/machines"),
            Some(request),
        )
        .await
    }

    async fn destroy_machine(&self, sim: &FlySim, id: &str) {
        self.expect(
            "Machines_delete",
            Method::DELETE,
            &format!("/v1/apps/{APP}/machines/{id}?force=true"),
            None,
            200,
        )
        .await;
        eventually("the machine destroyed", || {
            sim.machine_state(APP, id) == Some(fasterclaw_sim::fly::MachineState::Destroyed)
        })
        .await;
    }
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn volume_request(name: &str, region: &str) -> Value {
    json!({"name": name, "region": region, "size_gb": 1})
}

fn machine_request(volume: &str, region: Option<&str>) -> Value {
    let mut request = json!({
        "config": {"image": "x", "mounts": [{"volume": volume, "path": "/data"}]}
    });
    if let Some(region) = region {
        request["region"] = json!(region);
    }
    request
}

#[tokio::test]
async fn every_volume_answer_matches_the_machines_api_document() {
    let sim = sim_with(sim_config()).await;
    let api = Api::new(&sim).await;
    let volumes = format!("/v1/apps/{APP}/volumes");
    use Method as M;

    // Create, with Fly's defaults; names need not be unique.
    let a = api
        .volume(json!({"name": "data", "region": "lax", "size_gb": 2}))
        .await;
    let id = a["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("vol_") && id.len() == 20, "{id}");
    assert_eq!(
        (
            &a["state"],
            &a["encrypted"],
            &a["fstype"],
            &a["snapshot_retention"]
        ),
        (&json!("created"), &json!(true), &json!("ext4"), &json!(5))
    );
    assert_eq!(a["auto_backup_enabled"], true);
    assert_eq!(a["host_status"], "ok");
    assert!(a["bytes_total"].as_u64().unwrap() > a["bytes_used"].as_u64().unwrap());
    let b = api.volume(json!({"name": "data", "region": "lax"})).await;
    assert_eq!(b["size_gb"], 3, "the API's default size");
    for (request, status) in [
        (json!({"name": "my-data", "region": "lax"}), 400),
        (json!({"name": "a".repeat(31), "region": "lax"}), 400),
        (json!({"name": "d", "region": "lax", "size_gb": 0}), 400),
        (json!({"name": "d", "region": "lax", "size_gb": 501}), 400),
        (
            json!({"name": "d", "region": "lax", "snapshot_retention": 61}),
            400,
        ),
        (json!({"name": "d"}), 422),
        (json!({"region": "lax"}), 400),
        (
            json!({"name": "d", "region": "lax", "source_volume_id": "vol_missing0000000"}),
            404,
        ),
    ] {
        api.expect("Volumes_create", M::POST, &volumes, Some(request), status)
            .await;
    }

    // List, by pages.
    let list = api
        .expect("Volumes_list", M::GET, &volumes, None, 200)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (status, page, headers) = api
        .call_full("Volumes_list", M::GET, &format!("{volumes}?limit=1"), None)
        .await;
    assert_eq!((status, page[0]["id"].as_str()), (200, Some(id.as_str())));
    let cursor = headers["fly-next-cursor"].to_str().unwrap().to_owned();
    let (_, page, headers) = api
        .call_full(
            "Volumes_list",
            M::GET,
            &format!("{volumes}?limit=1&cursor={cursor}&summary=true"),
            None,
        )
        .await;
    assert_eq!(page[0]["id"], b["id"]);
    assert!(page[0].get("blocks").is_none(), "a summary");
    assert!(headers.get("fly-next-cursor").is_none(), "the last page");
    api.expect(
        "Volumes_list",
        M::GET,
        &format!("{volumes}?limit=0"),
        None,
        400,
    )
    .await;

    // Get, update, extend.
    let path = format!("{volumes}/{id}");
    assert_eq!(api.get_volume(&id).await["id"], id.as_str());
    api.expect(
        "Volumes_get_by_id",
        M::GET,
        &format!("{volumes}/vol_nosuchvolume0000"),
        None,
        404,
    )
    .await;
    let updated = api
        .expect(
            "Volumes_update",
            M::PUT,
            &path,
            Some(json!({"snapshot_retention": 10, "auto_backup_enabled": false})),
            200,
        )
        .await;
    assert_eq!(
        (
            &updated["snapshot_retention"],
            &updated["auto_backup_enabled"]
        ),
        (&json!(10), &json!(false))
    );
    api.expect(
        "Volumes_update",
        M::PUT,
        &path,
        Some(json!({"snapshot_retention": 0})),
        400,
    )
    .await;
    let extend = format!("{path}/extend");
    let extended = api
        .expect(
            "Volumes_extend",
            M::PUT,
            &extend,
            Some(json!({"size_gb": 4})),
            200,
        )
        .await;
    assert_eq!(
        (&extended["needs_restart"], &extended["volume"]["size_gb"]),
        (&json!(false), &json!(4))
    );
    for size in [4, 3] {
        api.expect(
            "Volumes_extend",
            M::PUT,
            &extend,
            Some(json!({ "size_gb": size })),
            400,
        )
        .await;
    }

    // Snapshots: 200 with no body, then listed oldest first.
    let snapshots = format!("{path}/snapshots");
    for _ in 0..2 {
        api.expect("createVolumeSnapshot", M::POST, &snapshots, None, 200)
            .await;
    }
    let listed = api
        .expect("Volumes_list_snapshots", M::GET, &snapshots, None, 200)
        .await;
    let listed = listed.as_array().unwrap().clone();
    assert_eq!(listed.len(), 2);
    assert!(listed[0]["id"].as_str().unwrap().starts_with("vs_"));
    assert!(listed[0]["created_at"].as_str() <= listed[1]["created_at"].as_str());
    assert_eq!(
        (&listed[0]["volume_size"], &listed[0]["retention_days"]),
        (&json!(4), &json!(10))
    );
    eventually("the snapshots created", || {
        sim.snapshots(APP, &id)
            .iter()
            .all(|s| s["status"] == "created")
    })
    .await;
    let snapshot = listed[1]["id"].as_str().unwrap();

    // Restore and fork start in Fly's states and become created.
    let restored = api
        .volume(json!({"name": "restored", "region": "lax", "snapshot_id": snapshot}))
        .await;
    assert_eq!(
        (&restored["state"], &restored["size_gb"]),
        (&json!("restoring"), &json!(4))
    );
    api.expect(
        "Volumes_create",
        M::POST,
        &volumes,
        Some(json!({"name": "r", "region": "lax", "snapshot_id": snapshot, "size_gb": 3})),
        400,
    )
    .await;
    let fork = api
        .volume(json!({"source_volume_id": id, "region": "ord"}))
        .await;
    assert_eq!(
        (
            &fork["state"],
            &fork["name"],
            &fork["region"],
            &fork["size_gb"]
        ),
        (
            &json!("hydrating"),
            &json!("data"),
            &json!("ord"),
            &json!(4)
        )
    );
    for v in [&restored, &fork] {
        let v = v["id"].as_str().unwrap().to_owned();
        eventually("the new volume created", || {
            sim.volume_state(APP, &v) == Some(VolumeState::Created)
        })
        .await;
    }

    // A machine holds its volume until it is destroyed; then the volume can go.
    let (status, machine) = api.create_machine(machine_request(&id, None)).await;
    assert_eq!(status, 200, "{machine}");
    let machine = machine["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.get_volume(&id).await["attached_machine_id"],
        machine.as_str()
    );
    let bound = api
        .expect("Volume_delete", M::DELETE, &path, None, 412)
        .await;
    assert_eq!(
        bound["error"],
        format!("failed_precondition: volume is currently bound to machine: {machine}")
    );
    api.destroy_machine(&sim, &machine).await;
    assert!(
        api.get_volume(&id)
            .await
            .get("attached_machine_id")
            .is_none()
    );
    let deleted = api
        .expect("Volume_delete", M::DELETE, &path, None, 200)
        .await;
    assert_eq!(deleted["state"], "scheduling_destroy");
    eventually("the volume soft-deleted", || {
        sim.volume_state(APP, &id) == Some(VolumeState::PendingDestroy)
    })
    .await;
    let list = api
        .expect("Volumes_list", M::GET, &volumes, None, 200)
        .await;
    let gone = list
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == id.as_str());
    assert_eq!(
        gone.map(|v| &v["state"]),
        Some(&json!("pending_destroy")),
        "Fly lists soft-deleted volumes; clients filter them"
    );
    let (status, _) = api
        .call("Volumes_list_snapshots", M::GET, &snapshots, None)
        .await;
    assert_eq!(status, 200, "a deleted volume's snapshots stay");
    for (operation, method, path) in [
        ("Volumes_extend", M::PUT, extend.as_str()),
        ("createVolumeSnapshot", M::POST, snapshots.as_str()),
    ] {
        api.expect(operation, method, path, Some(json!({"size_gb": 9})), 404)
            .await;
    }

    for operation in [
        "Volumes_list",
        "Volumes_create",
        "Volumes_get_by_id",
        "Volumes_update",
        "Volume_delete",
        "Volumes_extend",
        "Volumes_list_snapshots",
        "createVolumeSnapshot",
    ] {
        assert!(sim.calls_of(operation) > 0, "{operation} was counted");
    }
    let state = sim.state();
    let app = &state["apps"][0];
    assert_eq!(app["volumes"].as_array().unwrap().len(), 4);
    assert_eq!(app["volumes"][0]["snapshots"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn mounts_pin_the_region_and_take_the_volume_until_the_machine_is_destroyed() {
    let sim = sim_with(sim_config()).await;
    let api = Api::new(&sim).await;
    let vol = api.volume(volume_request("data", "ord")).await;
    let vol = vol["id"].as_str().unwrap().to_owned();

    // Another region cannot be placed next to the volume.
    let (status, body) = api.create_machine(machine_request(&vol, Some("iad"))).await;
    assert_eq!(
        (status, &body["status"]),
        (412, &json!("volume_placement_capacity"))
    );
    assert_eq!(
        body["error"],
        format!("insufficient resources to create new machine with existing volume '{vol}'")
    );
    // No region: the volume's. Fly names the mount after the volume.
    let (status, first) = api.create_machine(machine_request(&vol, None)).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["region"], "ord");
    assert_eq!(first["config"]["mounts"][0]["name"], "data");
    let first = first["id"].as_str().unwrap().to_owned();

    // One machine per volume, even a stopped one.
    let (status, body) = api.create_machine(machine_request(&vol, Some("ord"))).await;
    assert_eq!(status, 412);
    assert_eq!(
        body["error"],
        format!("failed_precondition: volume already claimed by machine {first}")
    );
    api.expect(
        "Machines_stop",
        Method::POST,
        &format!("/v1/apps/{APP}/machines/{first}/stop"),
        None,
        200,
    )
    .await;
    api.expect(
        "Volume_delete",
        Method::DELETE,
        &format!("/v1/apps/{APP}/volumes/{vol}"),
        None,
        412,
    )
    .await;
    // Stopped, not stopping: an update waits for a machine at rest.
    api.expect(
        "Machines_wait",
        Method::GET,
        &format!("/v1/apps/{APP}/machines/{first}/wait?state=stopped&timeout=10"),
        None,
        200,
    )
    .await;

    // Missing volumes, two mounts, a mount without a volume id.
    let (status, body) = api
        .create_machine(machine_request("vol_nosuchvolume0000", None))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("volume not found"))
    );
    let other = api.volume(volume_request("other", "ord")).await;
    let other = other["id"].as_str().unwrap().to_owned();
    let two = json!({"config": {"image": "x", "mounts": [
        {"volume": other, "path": "/a"}, {"volume": vol, "path": "/b"}]}});
    assert_eq!(api.create_machine(two).await.0, 400);
    let nameless = json!({"config": {"image": "x", "mounts": [{"path": "/a"}]}});
    assert_eq!(api.create_machine(nameless).await.0, 400);

    // An update may move the mount, not swap, add or drop the volume.
    let update = |config: Value| {
        let api = &api;
        let first = first.clone();
        async move {
            api.call(
                "Machines_update",
                Method::POST,
                &format!("/v1/apps/{APP}/machines/{first}"),
                Some(json!({ "config": config })),
            )
            .await
        }
    };
    let (status, body) =
        update(json!({"image": "y", "mounts": [{"volume": vol, "path": "/state"}]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["mounts"][0]["path"], "/state");
    for config in [
        json!({"image": "y", "mounts": [{"volume": other, "path": "/state"}]}),
        json!({"image": "y"}),
    ] {
        let (status, body) = update(config).await;
        assert_eq!(status, 400, "{body}");
    }
    let (status, bare) = api
        .create_machine(json!({"region": "ord", "skip_launch": true, "config": {"image": "x"}}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            "Machines_update",
            Method::POST,
            &format!("/v1/apps/{APP}/machines/{}", bare["id"].as_str().unwrap()),
            Some(json!({"config": {"image": "x", "mounts": [{"volume": other, "path": "/a"}]}})),
        )
        .await;
    assert_eq!(status, 400, "a volume cannot be added to a machine");

    // Destroying the machine lets a new one take the volume; a deleted volume is gone.
    api.destroy_machine(&sim, &first).await;
    let (status, second) = api.create_machine(machine_request(&vol, Some("ord"))).await;
    assert_eq!(status, 200, "{second}");
    api.expect(
        "Volume_delete",
        Method::DELETE,
        &format!("/v1/apps/{APP}/volumes/{other}"),
        None,
        200,
    )
    .await;
    let (status, body) = api.create_machine(machine_request(&other, None)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("volume not found"))
    );

    // Deleting the app deletes its volumes.
    api.expect(
        "Apps_delete",
        Method::DELETE,
        &format!("/v1/apps/{APP}"),
        None,
        202,
    )
    .await;
    assert!(sim.volumes(APP).is_empty());
}

#[tokio::test]
async fn full_and_over_quota_regions_answer_as_fly_does() {
    let sim = sim_with(sim_config()).await;
    let api = Api::new(&sim).await;
    let vol = api.volume(volume_request("data", "dfw")).await;
    let vol = vol["id"].as_str().unwrap().to_owned();
    let (status, machine) = api.create_machine(machine_request(&vol, None)).await;
    assert_eq!(status, 200);
    let machine = machine["id"].as_str().unwrap().to_owned();
    api.expect(
        "Machines_stop",
        Method::POST,
        &format!("/v1/apps/{APP}/machines/{machine}/stop"),
        None,
        200,
    )
    .await;
    eventually("the machine stopped", || {
        sim.machine_state(APP, &machine) == Some(fasterclaw_sim::fly::MachineState::Stopped)
    })
    .await;

    sim.set_region(
        "dfw",
        RegionFaults {
            full: true,
            quota: false,
        },
    );
    let body = api
        .expect(
            "Volumes_create",
            Method::POST,
            &format!("/v1/apps/{APP}/volumes"),
            Some(volume_request("more", "dfw")),
            400,
        )
        .await;
    assert_eq!(body, json!({"error": "no capacity"}));
    let placement = json!({
        "error": format!("insufficient resources to create new machine with existing volume '{vol}'"),
        "status": "volume_placement_capacity"
    });
    let body = api
        .expect(
            "Machines_start",
            Method::POST,
            &format!("/v1/apps/{APP}/machines/{machine}/start"),
            None,
            412,
        )
        .await;
    assert_eq!(body, placement);
    let (status, body) = api
        .create_machine(json!({"region": "dfw", "config": {"image": "x"}}))
        .await;
    assert_eq!(
        (status, body),
        (
            409,
            json!({"error": "aborted: could not reserve resource for machine: insufficient memory available to fulfill request"})
        )
    );
    assert!(api.volume(volume_request("elsewhere", "ord")).await["id"].is_string());

    // Over quota, switched through the admin API.
    let http = reqwest::Client::new();
    let admin = format!("{}/_sim/regions", sim.base_url());
    let status = http
        .put(format!("{admin}/dfw"))
        .json(&json!({"full": false, "quota": true}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let regions: Value = http.get(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(regions, json!({"dfw": {"full": false, "quota": true}}));
    let body = api
        .expect(
            "Volumes_create",
            Method::POST,
            &format!("/v1/apps/{APP}/volumes"),
            Some(volume_request("more", "dfw")),
            403,
        )
        .await;
    let text = body["error"].as_str().unwrap();
    assert!(
        text.starts_with("organization \"personal\" is using ")
            && text.ends_with(" MB of memory in dfw which is over the allowed quota. please consider other regions"),
        "{text}"
    );
    let (status, body) = api
        .create_machine(json!({"region": "dfw", "config": {"image": "x"}}))
        .await;
    assert_eq!(status, 403, "{body}");

    // Cleared, the region takes volumes and machines again.
    sim.set_region("dfw", RegionFaults::default());
    assert!(sim.regions().is_empty());
    api.expect(
        "Machines_start",
        Method::POST,
        &format!("/v1/apps/{APP}/machines/{machine}/start"),
        None,
        200,
    )
    .await;
    api.volume(volume_request("more", "dfw")).await;
}

/// A simulator whose machines run as processes (`sh`, no Node), in `dir`.
async fn running_sim(dir: &Path) -> FlySim {
    let package = dir.join("package");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(package.join("openclaw.mjs"), "// not OpenClaw\n").unwrap();
    let node = dir.join("nodejs").join("node");
    std::fs::create_dir_all(node.parent().unwrap()).unwrap();
    std::fs::write(&node, "#!/bin/sh\necho \"stand-in node $*\"\n").unwrap();
    std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = FlySimConfig {
        transition: Duration::from_millis(20),
        rate_limits: false,
        runtime: Some(MachineRuntime::new(node, package, dir.join("machines"))),
        ..FlySimConfig::default()
    };
    FlySim::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the simulator starts")
}

/// A machine on `volume` that runs `script` with `DATA` naming the mount, then sleeps.
fn script_machine(volume: &str, script: &str) -> Value {
    json!({"config": {
        "image": "x",
        "env": {"DATA": "/data"},
        "mounts": [{"volume": volume, "path": "/data"}],
        "init": {"cmd": ["sh", "-c", format!("{script}; exec sleep 600")]},
        "stop_config": {"signal": "SIGKILL"}
    }})
}

async fn file_is(path: &Path, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = std::fs::read_to_string(path).unwrap_or_default();
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} holds {now:?}, not {want:?}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn snapshots_restores_and_forks_carry_the_data_and_a_volume_outlives_its_machines() {
    let dir = tempfile::tempdir().unwrap();
    let sim = running_sim(dir.path()).await;
    let api = Api::new(&sim).await;
    let vol = api.volume(volume_request("state", "lax")).await;
    let vol = vol["id"].as_str().unwrap().to_owned();
    let data = sim.volume_dir(&vol).unwrap();
    assert!(data.is_dir(), "a new volume is an empty dir");
    let append = r#"echo run >> "$DATA/runs""#;

    let (status, first) = api.create_machine(script_machine(&vol, append)).await;
    assert_eq!(status, 200, "{first}");
    let first = first["id"].as_str().unwrap().to_owned();
    file_is(&data.join("runs"), "run\n").await;
    assert!(api.get_volume(&vol).await["bytes_used"].as_u64() > Some(0));

    // A snapshot is the volume at that moment.
    api.expect(
        "createVolumeSnapshot",
        Method::POST,
        &format!("/v1/apps/{APP}/volumes/{vol}/snapshots"),
        None,
        200,
    )
    .await;
    let snapshot = sim.snapshots(APP, &vol)[0].clone();
    assert_eq!(snapshot["size"], 4, "the bytes the volume held");
    let snapshot = snapshot["id"].as_str().unwrap().to_owned();
    file_is(&sim.snapshot_dir(&snapshot).unwrap().join("runs"), "run\n").await;

    // An update restarts the machine; the volume keeps what it had.
    let (status, body) = api
        .call(
            "Machines_update",
            Method::POST,
            &format!("/v1/apps/{APP}/machines/{first}"),
            Some(script_machine(&vol, append)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    file_is(&data.join("runs"), "run\nrun\n").await;

    // A restore holds the snapshot's data, a fork the volume's now, in another region.
    let restored = api
        .volume(json!({"name": "restored", "region": "lax", "snapshot_id": snapshot}))
        .await;
    let restored = restored["id"].as_str().unwrap().to_owned();
    let fork = api
        .volume(json!({"source_volume_id": vol, "region": "ord"}))
        .await;
    assert_eq!(fork["state"], "hydrating");
    let fork = fork["id"].as_str().unwrap().to_owned();
    let copy = r#"cp "$DATA/runs" "$DATA/seen""#;
    for (volume, want) in [(&restored, "run\n"), (&fork, "run\nrun\n")] {
        // A restoring or hydrating volume may be mounted already.
        let (status, body) = api.create_machine(script_machine(volume, copy)).await;
        assert_eq!(status, 200, "{body}");
        file_is(&sim.volume_dir(volume).unwrap().join("seen"), want).await;
    }

    // A new machine on the volume, after the first is destroyed, finds its data.
    api.destroy_machine(&sim, &first).await;
    let (status, body) = api.create_machine(script_machine(&vol, append)).await;
    assert_eq!(status, 200, "{body}");
    file_is(&data.join("runs"), "run\nrun\nrun\n").await;
    api.destroy_machine(&sim, body["id"].as_str().unwrap())
        .await;

    // Deleting the volume removes its dir; its snapshot stays.
    api.expect(
        "Volume_delete",
        Method::DELETE,
        &format!("/v1/apps/{APP}/volumes/{vol}"),
        None,
        200,
    )
    .await;
    assert!(!data.exists());
    assert!(sim.snapshot_dir(&snapshot).unwrap().exists());

    // Deleting the app removes every dir of its volumes.
    api.expect(
        "Apps_delete",
        Method::DELETE,
        &format!("/v1/apps/{APP}"),
        None,
        202,
    )
    .await;
    assert!(!sim.volume_dir(&fork).unwrap().exists());
    assert!(!sim.snapshot_dir(&snapshot).unwrap().exists());
}
