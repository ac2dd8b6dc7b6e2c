//! One module per subcommand.

mod blueprints;
pub mod emulator;
mod graph;
mod kinds;
mod render;

use crate::args::{Cli, Command};

pub fn dispatch(cli: &Cli) -> anyhow::Result<i32> {
    let out = cli.output;
    match &cli.command {
        Command::Blueprints => blueprints::run(out),
        Command::Kinds { name } => kinds::run(out, name.as_deref()),
        Command::Render { stack, format } => render::render(out, stack, *format),
        Command::Validate { stack } => render::validate(out, stack),
        Command::Graph { stack } => graph::run(out, stack),
        Command::Emulator(args) => emulator::run(args, out == crate::args::OutputFormat::Json),
    }
}
