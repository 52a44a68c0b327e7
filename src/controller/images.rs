//! Which container images may run with the platform's model keys: the operator names
//! the repositories (by default the one of `OPENCLAW_IMAGE`), and an Instance naming an
//! image from anywhere else gets no key and no machine.

use super::error::SettingsError;

/// The repositories whose images may run with the platform's keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedImages {
    /// Normalised repositories; an entry ending in `/` allows every repository under it.
    repositories: Vec<String>,
}

impl AllowedImages {
    /// The policy from `ALLOWED_IMAGE_REPOSITORIES` (`entries`; empty: the repository of
    /// `default_image`), which must allow `default_image` itself.
    pub fn new(entries: &[String], default_image: &str) -> Result<Self, SettingsError> {
        let mut repositories = Vec::new();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let (name, under) = match entry.strip_suffix("/*") {
                Some(prefix) => (prefix, true),
                None => (entry, false),
            };
            if name.contains(['@', ' '])
                || name
                    .rsplit('/')
                    .next()
                    .is_some_and(|last| last.contains(':'))
            {
                return Err(SettingsError(format!(
                    "ALLOWED_IMAGE_REPOSITORIES names repositories (such as ghcr.io/openclaw/openclaw, or ghcr.io/acme/*), not images with a tag or digest: {entry:?}"
                )));
            }
            let mut normalised = normalise(name);
            if under {
                normalised.push('/');
            }
            repositories.push(normalised);
        }
        if repositories.is_empty() {
            repositories.push(normalise(repository(default_image)));
        }
        let policy = Self { repositories };
        if !policy.allows(default_image) {
            return Err(SettingsError(format!(
                "OPENCLAW_IMAGE {default_image:?} is not from a repository ALLOWED_IMAGE_REPOSITORIES allows"
            )));
        }
        Ok(policy)
    }

    /// Whether `image` comes from an allowed repository.
    pub fn allows(&self, image: &str) -> bool {
        let repository = normalise(repository(image.trim()));
        self.repositories
            .iter()
            .any(|allowed| match allowed.strip_suffix('/') {
                Some(prefix) => {
                    repository.starts_with(allowed.as_str()) && repository.len() > prefix.len() + 1
                }
                None => repository == *allowed,
            })
    }

    /// The allowed repositories, for messages.
    pub fn describe(&self) -> String {
        self.repositories
            .iter()
            .map(|r| match r.strip_suffix('/') {
                Some(prefix) => format!("{prefix}/*"),
                None => r.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The repository of an image reference: without its digest (`@sha256:…`) and its tag
/// (`:1.2`, after the last `/`, so a registry's port stays).
fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(colon) if !image[colon..].contains('/') => &image[..colon],
        _ => image,
    }
}

/// A repository as a registry names it: Docker Hub's short forms written out
/// (`ubuntu` is `docker.io/library/ubuntu`, `acme/bot` is `docker.io/acme/bot`).
fn normalise(repository: &str) -> String {
    let repository = repository.trim().trim_end_matches('/');
    let mut parts = repository.splitn(2, '/');
    let first = parts.next().unwrap_or_default();
    match parts.next() {
        None => format!("docker.io/library/{first}"),
        Some(rest) if !(first.contains(['.', ':']) || first == "localhost") => {
            format!("docker.io/{first}/{rest}")
        }
        Some(_) => repository.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = "ghcr.io/openclaw/openclaw:2026.9.6";

    #[test]
    fn by_default_only_the_default_images_repository_is_allowed() {
        let policy = AllowedImages::new(&[], DEFAULT).unwrap();
        for (image, allowed) in [
            ("ghcr.io/openclaw/openclaw:2026.9.6", true),
            ("ghcr.io/openclaw/openclaw:latest", true),
            ("ghcr.io/openclaw/openclaw@sha256:0123abcd", true),
            ("ghcr.io/openclaw/openclaw", true),
            ("ghcr.io/openclaw/openclaw-evil:1", false),
            ("ghcr.io/attacker/openclaw:1", false),
            ("evil.io/ghcr.io/openclaw/openclaw:1", false),
            ("openclaw/openclaw:1", false),
        ] {
            assert_eq!(policy.allows(image), allowed, "{image}");
        }
        assert_eq!(policy.describe(), "ghcr.io/openclaw/openclaw");
    }

    #[test]
    fn named_repositories_and_prefixes() {
        let entries = [
            "openclaw/openclaw".to_owned(),
            " registry.example.com:5000/acme/* ".to_owned(),
            "ghcr.io/openclaw/openclaw".to_owned(),
        ];
        let policy = AllowedImages::new(&entries, DEFAULT).unwrap();
        for (image, allowed) in [
            ("docker.io/openclaw/openclaw:1", true),
            ("openclaw/openclaw:1", true),
            ("registry.example.com:5000/acme/bot:2", true),
            ("registry.example.com:5000/acme/team/bot", true),
            ("registry.example.com:5000/acme", false),
            ("registry.example.com:5000/acmex/bot:2", false),
            ("registry.example.com/acme/bot:2", false),
        ] {
            assert_eq!(policy.allows(image), allowed, "{image}");
        }
    }

    #[test]
    fn a_list_without_the_default_image_or_with_a_tag_is_refused() {
        let err = AllowedImages::new(&["ghcr.io/acme/bot".to_owned()], DEFAULT).unwrap_err();
        assert!(err.0.starts_with("OPENCLAW_IMAGE"), "{err}");
        let err =
            AllowedImages::new(&["ghcr.io/openclaw/openclaw:1".to_owned()], DEFAULT).unwrap_err();
        assert!(err.0.starts_with("ALLOWED_IMAGE_REPOSITORIES"), "{err}");
    }
}
