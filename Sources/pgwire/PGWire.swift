import ArgumentParser

@main
struct PGWire: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgwire",
        abstract: "PostgresWire's command-line tool: run queries and look at the PostgreSQL protocol.",
        version: pgwireVersion,
        subcommands: [QueryCommand.self, CopyInCommand.self, CopyOutCommand.self, ListenCommand.self, TraceCommand.self, BenchCommand.self]
    )
}
