//! Descriptions of an evaluated graph for people: plain text and DOT (the
//! analogue of `mirage describe` and `describe --dot`).

use std::fmt::Write;

use crate::device::show_location;
use crate::graph::Graph;
use crate::info::Info;
use crate::runtime_arg::ArgDef;

fn arg_summary(arg: &ArgDef) -> String {
    let state = match (&arg.default, arg.required) {
        (Some(d), _) => format!("default {d:?}"),
        (None, true) => "required".to_string(),
        (None, false) => "optional".to_string(),
    };
    format!("--{} : {} ({state})", arg.name, arg.rust_type)
}

/// The graph as plain text: devices in connect order with their types,
/// constructors, dependencies and runtime arguments.
pub(crate) fn text(graph: &Graph, info: &Info, args: &[std::rc::Rc<ArgDef>]) -> String {
    let mut out = String::new();
    let w = &mut out;
    writeln!(w, "unikernel {} (target {})", info.name(), info.target()).unwrap();
    if info.keys().is_empty() {
        writeln!(w, "keys: none read").unwrap();
    } else {
        writeln!(w, "keys:").unwrap();
        for (k, v) in info.keys() {
            write!(w, "  {k} = {v}").unwrap();
            if let Some(d) = info.key_descriptions().get(k) {
                write!(w, " ({}, default {})", d.var, d.default).unwrap();
                if !d.doc.is_empty() {
                    write!(w, ": {}", d.doc).unwrap();
                }
            }
            writeln!(w).unwrap();
        }
    }
    writeln!(w, "runtime arguments:").unwrap();
    for arg in args {
        writeln!(w, "  {}", arg_summary(arg)).unwrap();
    }
    writeln!(w, "devices, in connect order:").unwrap();
    for (i, inst) in graph.instances.iter().enumerate() {
        let def = &inst.def;
        writeln!(
            w,
            "  {}. {} : {}{} = `{}` ({})",
            i + 1,
            inst.var,
            def.typ,
            if def.is_job { " (job)" } else { "" },
            def.constructor,
            show_location(def.location)
        )
        .unwrap();
        if let Some(ty) = &inst.rust_type {
            writeln!(w, "       type: {ty}").unwrap();
        }
        let names = |list: &[usize]| -> String {
            list.iter()
                .map(|&d| graph.instances[d].var.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !inst.deps.is_empty() {
            writeln!(w, "       uses: {}", names(&inst.deps)).unwrap();
        }
        if !inst.args.is_empty() {
            writeln!(w, "       applied to: {}", names(&inst.args)).unwrap();
        }
        if !inst.extra.is_empty() {
            writeln!(w, "       after: {}", names(&inst.extra)).unwrap();
        }
        for arg in &def.runtime_args {
            writeln!(w, "       reads: --{}", arg.name).unwrap();
        }
    }
    out
}

/// The graph in Graphviz DOT: an edge from each device to each device it
/// uses (solid), is applied to (bold) or is built after (dashed).
pub(crate) fn dot(graph: &Graph, info: &Info) -> String {
    let mut out = String::new();
    let w = &mut out;
    writeln!(w, "digraph {:?} {{", info.name()).unwrap();
    writeln!(w, "  rankdir=BT;").unwrap();
    writeln!(w, "  node [shape=box, fontname=\"monospace\"];").unwrap();
    for inst in &graph.instances {
        let shape = if inst.def.is_job {
            ", shape=ellipse"
        } else {
            ""
        };
        let label = format!(
            "{}\\n{}\\n{}",
            inst.var,
            inst.def.constructor.replace('"', "\\\""),
            inst.rust_type
                .clone()
                .unwrap_or_else(|| inst.def.typ.clone())
        );
        writeln!(w, "  {:?} [label=\"{label}\"{shape}];", inst.var).unwrap();
    }
    for inst in &graph.instances {
        for &d in &inst.deps {
            writeln!(w, "  {:?} -> {:?};", inst.var, graph.instances[d].var).unwrap();
        }
        for &a in &inst.args {
            writeln!(
                w,
                "  {:?} -> {:?} [style=bold];",
                inst.var, graph.instances[a].var
            )
            .unwrap();
        }
        for &e in &inst.extra {
            writeln!(
                w,
                "  {:?} -> {:?} [style=dashed];",
                inst.var, graph.instances[e].var
            )
            .unwrap();
        }
    }
    writeln!(w, "}}").unwrap();
    out
}
