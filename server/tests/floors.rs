//! Keeps the floors of DESIGN.md ("Conventions"): every path a module names inside the crate (`crate::…` in
//! its code, comments aside) must lead to its own floor or one below, and the two doors (`http`, `web`) must
//! not lean on each other. A lower floor reaching up fails here with the file, the line and the path.

use std::path::{Path, PathBuf};

/// The floor of each top-level module of the server crate, from the bottom.
const FLOORS: &[(&str, u8)] = &[
    // Types and rules, no I/O; the catalogs are data compiled in.
    ("domain", 0),
    ("catalogs", 0),
    // SQL, and the database it runs on.
    ("storage", 1),
    ("database", 1),
    ("embedded_postgres", 1),
    // The operations.
    ("app", 2),
    // What both doors use: request state, the request id, body bounds, the throttle, the token verifier.
    ("shared", 3),
    // The two doors.
    ("http", 4),
    ("web", 4),
    // What assembles the doors and runs the process.
    ("edge", 5),
    ("startup", 5),
    ("tls", 5),
    ("telemetry", 5),
    ("cli", 5),
];

fn floor_of(module: &str) -> Option<u8> {
    FLOORS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, floor)| *floor)
}

fn source_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("the server's sources are readable");
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            source_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/app/ingest/mod.rs` → `app`); `None` for the crate
/// root files.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!["lib", "main"].contains(&name)).then(|| name.to_owned())
}

/// The top-level modules a line of code names through `crate::`, comments left out. A `use crate::{a, b}`
/// list is read whole.
fn named_modules(line: &str) -> Vec<String> {
    let code = match line.find("//") {
        Some(comment) => &line[..comment],
        None => line,
    };
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        // `kubeward_server::…` or `$crate::…` is not this crate's path.
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(list) = rest.strip_prefix('{') {
            let end = list.find('}').unwrap_or(list.len());
            for item in list[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(name);
        }
    }
    names
}

/// Every arrow that breaks the floors, as `file:line: from → to`.
fn broken_arrows(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    source_files(src, &mut files);
    files.sort();
    let mut broken = Vec::new();
    for file in &files {
        let Some(module) = module_of(src, file) else {
            continue;
        };
        let Some(own) = floor_of(&module) else {
            broken.push(format!(
                "{}: module {module} has no floor in FLOORS",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for (number, line) in text.lines().enumerate() {
            for target in named_modules(line) {
                if target == module {
                    continue;
                }
                let Some(theirs) = floor_of(&target) else {
                    continue;
                };
                let upward = theirs > own;
                let sideways_between_doors = own == 4 && theirs == 4;
                if upward || sideways_between_doors {
                    broken.push(format!(
                        "{}:{}: {module} (floor {own}) → {target} (floor {theirs})",
                        file.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    broken
}

#[test]
fn no_module_names_a_module_on_a_higher_floor_and_the_doors_do_not_lean_on_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let broken = broken_arrows(&src);
    assert!(
        broken.is_empty(),
        "arrows running up the floors (see DESIGN.md, Conventions):\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_floor_check_sees_an_arrow_up_and_ignores_comments_and_other_crates() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let src = dir.path();
    std::fs::create_dir_all(src.join("domain")).expect("a directory");
    std::fs::create_dir_all(src.join("http")).expect("a directory");
    std::fs::write(
        src.join("domain/mod.rs"),
        "// crate::app is mentioned in a comment only\nuse crate::{storage, http::problem};\n",
    )
    .expect("a file");
    std::fs::write(
        src.join("http/mod.rs"),
        "use crate::domain::role::Role;\nuse kubeward_server::web;\nfn f() { crate::web::x(); }\n",
    )
    .expect("a file");
    let broken = broken_arrows(src);
    assert_eq!(broken.len(), 3, "{broken:#?}");
    assert!(broken[0].ends_with("domain/mod.rs:2: domain (floor 0) → storage (floor 1)"));
    assert!(broken[1].ends_with("domain/mod.rs:2: domain (floor 0) → http (floor 4)"));
    assert!(broken[2].ends_with("http/mod.rs:3: http (floor 4) → web (floor 4)"));
}
