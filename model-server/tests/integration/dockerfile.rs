//! The container image cannot be built here (no Docker engine), so what can be checked
//! without building it is checked here.
#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn the_dockerfile_copies_every_workspace_member_so_cargo_can_load_the_workspace() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members_line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .unwrap();
    let members: Vec<&str> = members_line.split('"').skip(1).step_by(2).collect();
    assert!(members.contains(&"model-server"), "{members_line}");
    let dockerfile = std::fs::read_to_string(root.join("model-server/Dockerfile")).unwrap();
    for member in members {
        assert!(
            dockerfile.contains(&format!("COPY {member} ./{member}")),
            "model-server/Dockerfile does not copy workspace member {member}"
        );
    }
}
