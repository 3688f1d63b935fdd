//! Evaluation of a device graph: `if_impl`/`match_impl` resolved against the
//! keys, functor applications gathered, equal devices shared, every device
//! placed in dependency order and given a stable, readable name.
//!
//! Invariants of the result: every instance appears after all the instances
//! it uses; an instance is created once however many devices use it; names
//! are `<nice_name>__<position>`, so they change only when the graph does.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::device::{Cx, DeviceDef, Node, describe_node, show_location};
use crate::error::ConfigureError;
use crate::info::Info;
use crate::key::Context;

/// A device of the evaluated graph.
pub(crate) struct Instance {
    pub(crate) def: Rc<DeviceDef>,
    /// Positions (0-based) of the instances for `def.deps`, in order.
    pub(crate) deps: Vec<usize>,
    /// Positions of the functor arguments applied to it, in order.
    pub(crate) args: Vec<usize>,
    /// Positions of its extra (build-time) dependencies.
    pub(crate) extra: Vec<usize>,
    /// The dependency nodes as written in build.rs, for `Cx::var`.
    dep_nodes: Vec<Rc<Node>>,
    pub(crate) var: String,
    pub(crate) rust_type: Option<String>,
}

/// The evaluated graph, in connect order.
pub(crate) struct Graph {
    pub(crate) instances: Vec<Instance>,
    /// Positions of the roots, in the order they were given.
    pub(crate) roots: Vec<usize>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Identity {
    Named(String),
    Unique(usize),
}

type MemoKey = (Identity, Vec<usize>, Vec<usize>, Vec<usize>);

struct Evaluator<'a> {
    cx: &'a Context,
    instances: Vec<Instance>,
    memo: BTreeMap<MemoKey, usize>,
}

fn label(def: &DeviceDef) -> String {
    format!("`{}` ({})", def.constructor, show_location(def.location))
}

impl Evaluator<'_> {
    /// Follows choices and applications down to a device definition and
    /// the arguments applied to it.
    fn resolve(&self, node: &Rc<Node>) -> Result<(Rc<DeviceDef>, Vec<Rc<Node>>), ConfigureError> {
        match &**node {
            Node::Device(def) => Ok((def.clone(), Vec::new())),
            Node::App { functor, arg } => {
                let (def, mut args) = self.resolve(functor)?;
                args.push(arg.clone());
                Ok((def, args))
            }
            Node::Choice {
                what,
                select,
                options,
            } => {
                let chosen = select.eval(self.cx)?;
                let option = options.get(chosen).ok_or_else(|| ConfigureError::Device {
                    device: what.clone(),
                    problem: format!("chose option {chosen} of {}", options.len()),
                })?;
                self.resolve(option)
            }
        }
    }

    fn visit(&mut self, node: &Rc<Node>, path: &mut Vec<String>) -> Result<usize, ConfigureError> {
        let (def, arg_nodes) = self.resolve(node)?;
        if arg_nodes.len() != def.arity {
            return Err(ConfigureError::Device {
                device: label(&def),
                problem: format!(
                    "a functor of type `{}` is applied to {} argument{} where it takes {}{}",
                    def.typ,
                    arg_nodes.len(),
                    if arg_nodes.len() == 1 { "" } else { "s" },
                    def.arity,
                    if path.is_empty() {
                        String::new()
                    } else {
                        format!(" (used by {})", path.join(" <- "))
                    }
                ),
            });
        }
        if let Some(reason) = &def.unavailable {
            return Err(ConfigureError::Device {
                device: label(&def),
                problem: reason.clone(),
            });
        }
        path.push(label(&def));
        let mut extra = Vec::new();
        for d in &def.extra_deps {
            extra.push(self.visit(d, path)?);
        }
        let mut deps = Vec::new();
        for d in &def.deps {
            deps.push(self.visit(d, path)?);
        }
        let mut args = Vec::new();
        for a in &arg_nodes {
            args.push(self.visit(a, path)?);
        }
        path.pop();
        let identity = match &def.identity {
            Some(name) => Identity::Named(name.clone()),
            None => Identity::Unique(Rc::as_ptr(&def) as *const () as usize),
        };
        let key = (identity, deps.clone(), args.clone(), extra.clone());
        if let Some(&position) = self.memo.get(&key) {
            return Ok(position);
        }
        let position = self.instances.len();
        self.instances.push(Instance {
            var: format!("{}_{}", sanitize(&def.nice_name), position + 1),
            def: def.clone(),
            deps,
            args,
            extra,
            dep_nodes: def.deps.clone(),
            rust_type: None,
        });
        self.memo.insert(key, position);
        Ok(position)
    }
}

/// Makes a Rust identifier stem of a nice name.
fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'd');
    }
    out
}

/// Evaluates the graph below `roots` in `cx`.
pub(crate) fn evaluate(roots: &[Rc<Node>], cx: &Context) -> Result<Graph, ConfigureError> {
    let mut ev = Evaluator {
        cx,
        instances: Vec::new(),
        memo: BTreeMap::new(),
    };
    let mut positions = Vec::new();
    for root in roots {
        positions.push(ev.visit(root, &mut Vec::new())?);
    }
    Ok(Graph {
        instances: ev.instances,
        roots: positions,
    })
}

impl Graph {
    /// The code context of instance `i`: its dependencies' names and types.
    pub(crate) fn cx<'a>(&'a self, i: usize, info: &'a Info) -> Cx<'a> {
        let inst = &self.instances[i];
        Cx {
            var: &inst.var,
            deps: inst
                .dep_nodes
                .iter()
                .zip(&inst.deps)
                .map(|(node, &d)| {
                    let dep = &self.instances[d];
                    (
                        Rc::as_ptr(node),
                        dep.var.clone(),
                        dep.rust_type.clone().unwrap_or_else(|| "()".to_string()),
                    )
                })
                .collect(),
            args: inst
                .args
                .iter()
                .map(|&a| {
                    let arg = &self.instances[a];
                    (arg.var.clone(), arg.rust_type.clone().unwrap_or_default())
                })
                .collect(),
            info,
            missing: Default::default(),
        }
    }

    /// Computes every instance's Rust type, in order (a type may name its
    /// dependencies' types).
    pub(crate) fn compute_types(&mut self, info: &Info) -> Result<(), ConfigureError> {
        for i in 0..self.instances.len() {
            let ty = match &self.instances[i].def.rust_type {
                Some(f) => {
                    let f = f.clone();
                    let cx = self.cx(i, info);
                    let ty = f(&cx);
                    check_missing(&cx, &self.instances[i].def)?;
                    Some(ty)
                }
                None => None,
            };
            self.instances[i].rust_type = ty;
        }
        Ok(())
    }
}

/// Fails if the code of `def` named a device it does not depend on.
pub(crate) fn check_missing(cx: &Cx<'_>, def: &DeviceDef) -> Result<(), ConfigureError> {
    let missing = cx.missing.borrow();
    match missing.first() {
        None => Ok(()),
        Some(other) => Err(ConfigureError::Device {
            device: label(def),
            problem: format!(
                "its code uses {other}, which it does not declare as a dependency with `.dep(...)`"
            ),
        }),
    }
}

/// For messages about a node that is not yet evaluated.
#[allow(dead_code)]
pub(crate) fn node_label(node: &Node) -> String {
    describe_node(node)
}
