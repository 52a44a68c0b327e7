//! Identifiers shaped like Fly's: 14-hex machine ids, 16-character app ids, 26-character
//! ULID versions and event ids, 6PN private IPv6 addresses, and volumes' ids
//! (`vol_9vw681egy1jj5xm4`), zones (`09cd`) and snapshot ids (`vs_4LNvXLLK0P6tk6KgqoexaBw`),
//! as in the examples of <https://fly.io/docs/machines/api/volumes-resource/>.

use rand::Rng;
use rand::rngs::StdRng;

const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const BASE36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A machine id such as `1857156b526dd8`.
pub fn machine_id(rng: &mut StdRng) -> String {
    (0..14)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}

/// An app id such as `z4k69dxd8r31p5mx`.
pub fn app_id(rng: &mut StdRng) -> String {
    (0..16)
        .map(|_| char::from(BASE36[rng.random_range(0..36)]))
        .collect()
}

/// A volume id such as `vol_9vw681egy1jj5xm4`.
pub fn volume_id(rng: &mut StdRng) -> String {
    let tail: String = (0..16)
        .map(|_| char::from(BASE36[rng.random_range(0..36)]))
        .collect();
    format!("vol_{tail}")
}

/// A snapshot id such as `vs_4LNvXLLK0P6tk6KgqoexaBw`.
pub fn snapshot_id(rng: &mut StdRng) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let tail: String = (0..24)
        .map(|_| char::from(BASE62[rng.random_range(0..62)]))
        .collect();
    format!("vs_{tail}")
}

/// `n` random lowercase hex digits: a zone (4) or a digest (32).
pub fn hex(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}

/// A ULID such as `01HEPA330HZ37A78TK080NAK1M`: 10 characters of milliseconds, 16 random.
pub fn ulid(rng: &mut StdRng, millis: i64) -> String {
    let mut out = String::with_capacity(26);
    let mut time = millis.max(0) as u64;
    let mut head = [0u8; 10];
    for slot in head.iter_mut().rev() {
        *slot = CROCKFORD[(time % 32) as usize];
        time /= 32;
    }
    out.extend(head.iter().map(|b| char::from(*b)));
    out.extend((0..16).map(|_| char::from(CROCKFORD[rng.random_range(0..32)])));
    out
}

/// A 6PN address such as `fdaa:0:1:a7b:195:e229:8038:2`.
pub fn private_ip(rng: &mut StdRng) -> String {
    format!(
        "fdaa:0:{:x}:a7b:{:x}:{:x}:{:x}:2",
        rng.random_range(1..0xfff_u32),
        rng.random_range(1..0xffff_u32),
        rng.random_range(1..0xffff_u32),
        rng.random_range(1..0xffff_u32)
    )
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn ids_have_fly_shapes() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(machine_id(&mut rng).len(), 14);
        assert_eq!(app_id(&mut rng).len(), 16);
        let version = ulid(&mut rng, 1_699_408_350_300);
        assert_eq!(version.len(), 26);
        assert!(version.starts_with("01HEPA"), "{version}");
        assert_eq!(private_ip(&mut rng).split(':').count(), 8);
        let volume = volume_id(&mut rng);
        assert!(volume.starts_with("vol_") && volume.len() == 20, "{volume}");
        assert!(volume[4..].bytes().all(|b| BASE36.contains(&b)));
        let snapshot = snapshot_id(&mut rng);
        assert!(
            snapshot.starts_with("vs_") && snapshot.len() == 27,
            "{snapshot}"
        );
        assert_eq!(hex(&mut rng, 4).len(), 4);
    }
}
