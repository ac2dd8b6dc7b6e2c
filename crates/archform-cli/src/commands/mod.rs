//! One module per subcommand.

mod blueprints;
mod build;
pub mod dev;
pub mod emulator;
pub mod event;
mod graph;
pub mod invoke;
mod kinds;
pub mod lifecycle;
mod render;
pub mod state;

use crate::args::{Cli, Command, StateCommand};

pub fn dispatch(cli: &Cli) -> anyhow::Result<i32> {
    let out = cli.output;
    crate::output::set_format(out);
    match &cli.command {
        Command::Blueprints => blueprints::run(out),
        Command::Kinds { name } => kinds::run(out, name.as_deref()),
        Command::Render { stack, format } => render::render(out, stack, *format),
        Command::Validate { stack } => render::validate(out, stack),
        Command::Graph { stack } => graph::run(out, stack),
        Command::Build { stack } => build::run(out, stack),
        Command::Invoke(args) => invoke::run(out, args),
        Command::Event(args) => event::run(args),
        Command::Dev(args) => dev::run(out, args),
        Command::Plan(args) => lifecycle::plan(out, args),
        Command::Deploy(args) => lifecycle::deploy(out, args),
        Command::Destroy(args) => lifecycle::destroy(out, args),
        Command::Outputs { stack, target } => lifecycle::outputs(out, stack, target),
        Command::State(StateCommand::List { target }) => lifecycle::state_list(out, target),
        Command::State(StateCommand::Show { stack, target }) => {
            lifecycle::state_show(out, stack, target)
        }
        Command::State(StateCommand::Unlock(args)) => state::unlock(out, args),
        Command::State(StateCommand::Rm(args)) => state::rm(out, args),
        Command::State(StateCommand::Recover(args)) => state::recover(out, args),
        Command::Emulator(args) => emulator::run(args, out == crate::args::OutputFormat::Json),
    }
}
