//! The house rules of ARCHITECTURE.md, checked on the source: the crate's top-level modules import only from the
//! layers below them (so there is no import cycle), they import by module path (no `crate::Name` through the root's
//! re-exports, no `crate::{..}` groups that hide the arrows), and no source file of the workspace's crates is longer
//! than 700 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of ARCHITECTURE.md, lowest first. A module may import from modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    &["test_support"],
    &["time", "id", "signature", "lifecycle"],
    &["cookie"],
    &["record"],
    &["store"],
    &["error"],
    &["options"],
    &["engine", "wire"],
    &["layer", "flash"],
    &["extract"],
    &["testing"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line, without its `//` comment and without doc attributes (doc links are not imports). Good
/// enough for this crate's source: no string literal in it holds `//` followed by `crate::`.
fn code(line: &str) -> &str {
    if line.contains("doc = \"") {
        return "";
    }
    line.find("//").map_or(line, |i| &line[..i])
}

/// The top-level module a file belongs to: `src/engine/session/mod.rs` and `src/engine.rs` are `engine`.
fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component").as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

struct Graph {
    edges: BTreeMap<String, BTreeSet<String>>,
    problems: Vec<String>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for file in files {
        let from = top_module(&src, &file);
        if from == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (number, line) in text.lines().enumerate() {
            let code = code(line);
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                let after = &rest[at + "crate::".len()..];
                let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                let place = format!("{}:{}", file.display(), number + 1);
                if after.starts_with('{') {
                    problems.push(format!("{place}: `crate::{{..}}` hides the arrows; import by module path"));
                } else if name.starts_with(|c: char| c.is_ascii_uppercase()) {
                    problems.push(format!("{place}: `crate::{name}` goes through the root; import by module path"));
                } else if after[name.len()..].starts_with('!') {
                    // A macro exported at the root (`$crate::store_suite!`): not a module.
                } else if !name.is_empty() && name != from {
                    edges.entry(from.clone()).or_default().insert(name);
                }
                rest = after;
            }
        }
    }
    Graph { edges, problems }
}

#[test]
fn modules_import_by_module_path() {
    let graph = graph();
    assert!(graph.problems.is_empty(), "imports that hide the module graph:\n{}", graph.problems.join("\n"));
}

#[test]
fn modules_import_only_from_the_layers_below() {
    let graph = graph();
    let mut wrong = Vec::new();
    for (from, targets) in &graph.edges {
        let Some(from_layer) = layer_of(from) else {
            wrong.push(format!("module `{from}` is in no layer of ARCHITECTURE.md (add it to LAYERS and the doc)"));
            continue;
        };
        for to in targets {
            match layer_of(to) {
                Some(to_layer) if to_layer < from_layer => {}
                Some(_) => wrong.push(format!("`{from}` imports `{to}`, which is not below it")),
                None => wrong.push(format!("`{from}` imports `{to}`, which is in no layer of ARCHITECTURE.md")),
            }
        }
    }
    let arrows: Vec<String> = graph
        .edges
        .iter()
        .map(|(from, to)| format!("{from} -> {}", to.iter().cloned().collect::<Vec<_>>().join(" ")))
        .collect();
    assert!(wrong.is_empty(), "{}\n\nthe module graph:\n{}", wrong.join("\n"), arrows.join("\n"));
}

#[test]
fn no_source_file_is_longer_than_700_lines() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crates dir").to_path_buf();
    let mut long = Vec::new();
    for entry in std::fs::read_dir(&crates).expect("readable crates dir") {
        let src = entry.expect("dir entry").path().join("src");
        if !src.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for file in files {
            let lines = std::fs::read_to_string(&file).expect("readable source").lines().count();
            if lines > 700 {
                long.push(format!("{}: {lines} lines", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "files over 700 lines (split them by what they hold):\n{}", long.join("\n"));
}
