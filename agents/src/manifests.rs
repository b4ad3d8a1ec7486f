//! Manifest files read as the cluster would take them: files, directories (recursively: `*.yaml`, `*.yml`,
//! `*.json`) and standard input; multi-document streams, `kind: List`, Helm and kustomize output.
//!
//! A document that cannot be read is an input error naming its file and line; the documents around it are
//! still evaluated. Objects without a namespace take `--namespace` when given; otherwise they keep none and
//! the checks that need it say so (`manual`), since the namespace is chosen when they are applied.

use std::io::Read;
use std::path::{Path, PathBuf};

use kubeward_benchmark::cluster_report::{Location, Source};
use kubeward_benchmark::policy::json::Interner;
use kubeward_benchmark::policy::objects::is_cluster_scoped;
use kubeward_benchmark::policy::{Inventory, Object};
use kubeward_benchmark::yaml11;
use serde_json::Value;

/// One problem with the input, for stderr and the outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub file: String,
    pub line: Option<u64>,
    pub message: String,
}

impl InputError {
    /// A problem with a whole file or directory, not one line of it.
    fn of_path(path: &Path, message: String) -> InputError {
        InputError {
            file: path.display().to_string(),
            line: None,
            message,
        }
    }
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// The largest file read; a manifest beyond this is almost certainly not one.
const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// What the inputs held.
#[derive(Debug)]
pub struct ManifestSet {
    pub inventory: Inventory,
    pub errors: Vec<InputError>,
    /// Documents that are not Kubernetes objects and were passed over (values files, kustomizations).
    pub notes: Vec<InputError>,
    pub files: usize,
}

/// Reads every input. `-` is standard input, named `<stdin>` in locations.
pub fn read_inputs(inputs: &[PathBuf], namespace: Option<&str>) -> ManifestSet {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            files.push(input.clone());
        } else {
            collect_files(input, &mut files, &mut errors, true);
        }
    }
    let mut objects = Vec::new();
    let mut notes = Vec::new();
    let mut interner = Interner::default();
    let count = files.len();
    for file in files {
        let name = if file.as_os_str() == "-" {
            "<stdin>".to_owned()
        } else {
            file.display().to_string()
        };
        match read_text(&file) {
            Ok(text) => {
                let mut sink = Sink {
                    objects: &mut objects,
                    errors: &mut errors,
                    notes: &mut notes,
                    interner: &mut interner,
                };
                read_document_stream(&name, &text, namespace, &mut sink);
            }
            Err(message) => errors.push(InputError {
                file: name,
                line: None,
                message,
            }),
        }
    }
    ManifestSet {
        inventory: Inventory::new(Source::Manifests, objects),
        errors,
        notes,
        files: count,
    }
}

fn is_manifest_name(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|ext| ext.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<InputError>, named: bool) {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) => {
            errors.push(InputError::of_path(path, format!("cannot read: {err}")));
            return;
        }
    };
    if metadata.is_dir() {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(entries) => entries
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .collect(),
            Err(err) => {
                errors.push(InputError::of_path(path, format!("cannot list: {err}")));
                return;
            }
        };
        // Sorted, so that reports and their locations come out the same on every run.
        entries.sort();
        for entry in entries {
            let hidden = entry
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with('.'));
            if !hidden {
                collect_files(&entry, files, errors, false);
            }
        }
    } else if named || is_manifest_name(path) {
        // A file named on the command line is read whatever its name; inside directories only manifests are.
        files.push(path.to_path_buf());
    }
}

fn read_text(path: &Path) -> Result<String, String> {
    let mut bytes = Vec::new();
    let result = if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
    };
    result.map_err(|err| format!("cannot read: {err}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {} MiB", MAX_FILE_BYTES / 1024 / 1024));
    }
    String::from_utf8(bytes)
        .map_err(|err| format!("not UTF-8 text (byte {})", err.utf8_error().valid_up_to()))
}

/// Where one file's documents go.
#[derive(Debug)]
pub struct Sink<'a> {
    pub objects: &'a mut Vec<Object>,
    pub errors: &'a mut Vec<InputError>,
    pub notes: &'a mut Vec<InputError>,
    /// Shares equal strings between the objects of all files.
    pub interner: &'a mut Interner,
}

/// Why a document is not a Kubernetes object to evaluate, when it plainly is something else.
fn not_a_manifest(value: &Value) -> Option<&'static str> {
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    let kind = value.get("kind").and_then(Value::as_str);
    match (api_version, kind) {
        (Some(api), _) if api.starts_with("kustomize.config.k8s.io/") => Some(
            "a kustomization, not a manifest: render it with `kubectl kustomize DIR | kubeward-agent manifests -`",
        ),
        (None, None) if value.is_object() => {
            Some("no apiVersion and no kind: not a Kubernetes object (a values or settings file?)")
        }
        _ => None,
    }
}

/// Reads one file's documents into objects.
pub fn read_document_stream(file: &str, text: &str, namespace: Option<&str>, sink: &mut Sink<'_>) {
    let stream = yaml11::read_stream(text);
    for error in stream.errors {
        sink.errors.push(InputError {
            file: file.to_owned(),
            line: Some(error.line as u64),
            message: error.message,
        });
    }
    for document in stream.documents {
        if document.value.is_null() {
            continue;
        }
        if let Some(why) = not_a_manifest(&document.value) {
            sink.notes.push(InputError {
                file: file.to_owned(),
                line: Some(document.line as u64),
                message: why.to_owned(),
            });
            continue;
        }
        let is_list = document
            .value
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|kind| kind == "List" || kind.ends_with("List"))
            && document.value.get("items").is_some_and(Value::is_array);
        let items: Vec<(Value, usize)> = if is_list {
            let lines = document.item_lines.clone();
            match document.value.get("items") {
                Some(Value::Array(items)) => items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        (
                            item.clone(),
                            lines.get(index).copied().unwrap_or(document.line),
                        )
                    })
                    .collect(),
                _ => Vec::new(),
            }
        } else {
            vec![(document.value, document.line)]
        };
        for (value, line) in items {
            let location = Location {
                file: sink.interner.text(file),
                line: line as u64,
            };
            match Object::read(value, Some(location), sink.interner) {
                Ok(mut object) => {
                    if object.namespace.is_none()
                        && !is_cluster_scoped(&object.kind)
                        && let Some(namespace) = namespace
                    {
                        object.namespace = Some(sink.interner.text(namespace));
                    }
                    sink.objects.push(object);
                }
                Err(err) => sink.errors.push(InputError {
                    file: file.to_owned(),
                    line: Some(line as u64),
                    message: format!("not a Kubernetes object: {err}"),
                }),
            }
        }
    }
}
