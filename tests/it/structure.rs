//! The crates' module graph, read from their sources: no two modules use each other
//! (directly or around a circle), the lower layers (`domain`, `crypto`, `crd`, `db`,
//! `fly`, `billing`) use none of the upper ones (`api`, `controller`, `import`), and
//! neither the facade nor the import reaches into the controller.
//!
//! A module is a file; a reference is a `use` of, or a path through, `crate::…` or
//! `super::…`, resolved to the deepest module it names. A module using its own parent or
//! child is not an edge: a module and its parts are one unit. Unit tests (`#[cfg(test)]`
//! to the end of a file) are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// The modules of the crate whose sources are under `root`, by path (`controller::act`),
/// with their code.
fn modules(root: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let code = std::fs::read_to_string(&path).expect("a source file");
                found.insert(module_path(root, &path), code);
            }
        }
    }
    found
}

fn module_path(root: &Path, file: &Path) -> String {
    let relative: PathBuf = file.strip_prefix(root).expect("under the root").into();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The code without unit tests, comments or string literals.
fn code_only(code: &str) -> String {
    let code = code.split("#[cfg(test)]").next().unwrap_or_default();
    let strings = Regex::new(r#""(?:[^"\\]|\\.)*""#).expect("a pattern");
    code.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .map(|line| strings.replace_all(line, "\"\"").into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap_or(tree).trim().to_owned()];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let close = tree.rfind('}').filter(|c| *c > open).unwrap_or(tree.len());
    let inner = &tree[open + 1..close];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|rest| {
            if rest == "self" {
                prefix.to_owned()
            } else {
                format!("{prefix}::{rest}")
            }
        })
        .collect()
}

/// The paths `module`'s code names through `crate::` or `super::`, made absolute.
fn references(module: &str, code: &str) -> BTreeSet<String> {
    let code = code_only(code);
    let uses = Regex::new(r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);").expect("a pattern");
    let inline =
        Regex::new(r"\b((?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+)").expect("a pattern");
    let renames = Regex::new(r"\s+as\s+[A-Za-z_][A-Za-z0-9_]*").expect("a pattern");
    let mut paths: Vec<String> = uses
        .captures_iter(&code)
        .flat_map(|c| {
            let tree = renames.replace_all(&c[1], "");
            expand(&tree.split_whitespace().collect::<String>())
        })
        .collect();
    let rest = uses.replace_all(&code, "");
    paths.extend(inline.captures_iter(&rest).map(|c| c[1].to_owned()));
    paths
        .into_iter()
        .filter_map(|path| absolute(module, &path))
        .collect()
}

fn absolute(module: &str, path: &str) -> Option<String> {
    let mut here: Vec<&str> = module.split("::").filter(|p| !p.is_empty()).collect();
    let mut parts = path.split("::").peekable();
    match parts.peek().copied() {
        Some("crate") => {
            parts.next();
            here.clear();
        }
        Some("super") => {
            while parts.peek() == Some(&"super") {
                parts.next();
                here.pop()?;
            }
        }
        _ => return None,
    }
    here.extend(parts.filter(|p| *p != "*"));
    Some(here.join("::"))
}

/// The deepest known module a path names.
fn owner<'a>(path: &str, known: &'a BTreeSet<String>) -> Option<&'a String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    while !parts.is_empty() {
        if let Some(module) = known.get(&parts.join("::")) {
            return Some(module);
        }
        parts.pop();
    }
    None
}

fn related(a: &str, b: &str) -> bool {
    let within = |inner: &str, outer: &str| {
        outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}::"))
    };
    within(a, b) || within(b, a)
}

/// Module → the modules it uses.
fn graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules(root);
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(module, code)| {
            let uses = references(module, code)
                .iter()
                .filter_map(|path| owner(path, &known))
                .filter(|target| !related(module, target))
                .cloned()
                .collect();
            (module.clone(), uses)
        })
        .collect()
}

/// The circles of the graph (strongly connected components of more than one module).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reaches = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(next) = stack.pop() {
            for target in graph.get(&next).into_iter().flatten() {
                if seen.insert(target.clone()) {
                    stack.push(target.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|m| (m, reaches(m))).collect();
    let mut circles: Vec<Vec<String>> = Vec::new();
    for module in graph.keys() {
        let mut circle: Vec<String> = graph
            .keys()
            .filter(|other| reach[module].contains(*other) && reach[other].contains(module))
            .cloned()
            .collect();
        circle.sort();
        if circle.len() > 1 && !circles.contains(&circle) {
            circles.push(circle);
        }
    }
    circles
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

fn root(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

#[test]
fn no_module_of_either_crate_uses_one_that_uses_it() {
    for crate_root in ["src", "sim/src"] {
        let graph = graph(&root(crate_root));
        assert!(graph.len() > 20, "{crate_root}: too few modules read");
        let found = circles(&graph);
        assert!(
            found.is_empty(),
            "{crate_root}: modules in a circle: {found:?}"
        );
    }
}

#[test]
fn layers_point_down_and_the_controller_keeps_its_internals() {
    const LOWER: [&str; 7] = ["domain", "crypto", "crd", "db", "fly", "billing", "runtime"];
    const UPPER: [&str; 3] = ["api", "controller", "import"];
    let graph = graph(&root("src"));
    let mut wrong = Vec::new();
    for (module, uses) in &graph {
        for target in uses {
            let (from, to) = (top(module), top(target));
            if LOWER.contains(&from) && UPPER.contains(&to) {
                wrong.push(format!("{module} (a lower layer) uses {target}"));
            }
            if matches!(from, "api" | "import") && to == "controller" {
                wrong.push(format!("{module} reaches into {target}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_reader_sees_what_it_should() {
    // The reading itself, on a small known case.
    let refs = references(
        "controller::act",
        "use super::{desired::{self, DesiredSecrets}, naming};\nuse crate::fly::{Machine as M};\n// crate::api::nothing\nlet x = crate::crd::label::managed();\n#[cfg(test)]\nuse crate::api::client;",
    );
    let expected: BTreeSet<String> = [
        "controller::desired",
        "controller::desired::DesiredSecrets",
        "controller::naming",
        "fly::Machine",
        "crd::label::managed",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(refs, expected);
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    graph.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    graph.insert("d".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(circles(&graph), vec![vec!["a", "b", "c"]]);
}
