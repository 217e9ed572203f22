// README.md is a contract: every example in it runs as written. This test reads README.md itself
// (there are no hand-kept copies of its examples) and checks its blocks mechanically:
//
// - a ```sql block whose first line is `-- setup` is run once with psql in a database of its own
//   on the test server (it may create objects in the current database only: no roles, databases);
// - a ```swift block whose first line is a comment containing `fragment` is compiled inside a
//   function the test supplies (`func readmeFragmentN(connection: Connection) async throws`, with
//   Foundation and PostgresWire imported); every other ```swift block is a whole `main.swift`;
// - all of them go into ONE temporary package (one executable target per whole example, one library
//   target with the fragments) that depends on this repository by path, built once with the scratch
//   path `<repo>/.build-readme` (so that repeated runs are incremental);
// - each whole example runs with the PG* variables of the test server, on its own copy of the set-up
//   database, and must exit 0 within 60 seconds;
// - each ```sh/```bash/```shell/```console block that runs `pgwire` runs the same way with the built
//   `pgwire` first on PATH (`swift run pgwire`, `.build/debug/pgwire` and `.build/release/pgwire` are
//   that binary; `swift build` lines are skipped since it is built): every command must exit 0, or N
//   when the line ends with `# exits N`.

import Foundation
import Testing
import TestSupport

private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// One fenced block of README.md.
struct READMEBlock: Sendable, CustomTestStringConvertible {
    enum Kind: String, Sendable { case wholeSwift = "whole Swift example", fragment = "Swift fragment", integration = "Integrations/ Swift example", setup = "SQL setup", shell = "pgwire shell block" }
    let kind: Kind
    /// The 1-based line of README.md holding the block's first content line.
    let line: Int
    let info: String
    let text: String
    /// Target name in the generated package (whole examples) or function name (fragments).
    var name: String { kind == .fragment ? "readmeFragmentLine\(line)" : "ExampleLine\(line)" }
    var testDescription: String { "\(kind.rawValue) at README.md:\(line)" }
}

enum READMEExtraction {
    static func readme() throws -> String {
        try String(contentsOf: repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
    }

    /// Every fenced block of `text` that the contract covers, in order.
    static func blocks(_ text: String) -> [READMEBlock] {
        var result: [READMEBlock] = []
        var open: (info: String, fence: String, line: Int, lines: [String])?
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(rawLine)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if var block = open {
                if trimmed.hasPrefix(block.fence) && trimmed.allSatisfy({ $0 == block.fence.first }) {
                    if let classified = classify(info: block.info, line: block.line, lines: block.lines) { result.append(classified) }
                    open = nil
                } else {
                    block.lines.append(line)
                    open = block
                }
                continue
            }
            for fenceCharacter in ["`", "~"] where trimmed.hasPrefix(String(repeating: fenceCharacter, count: 3)) {
                let fence = String(trimmed.prefix { String($0) == fenceCharacter })
                let info = trimmed.dropFirst(fence.count).trimmingCharacters(in: .whitespaces)
                open = (info: info.split(separator: " ").first.map { $0.lowercased() } ?? "", fence: fence, line: index + 2, lines: [])
                break
            }
        }
        return result
    }

    static func classify(info: String, line: Int, lines: [String]) -> READMEBlock? {
        let text = lines.joined(separator: "\n")
        let firstLine = lines.first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }?.trimmingCharacters(in: .whitespaces) ?? ""
        switch info {
        case "swift":
            let isFragment = firstLine.hasPrefix("//") && firstLine.lowercased().contains("fragment")
            // A whole example on PostgresWireSQLKit or FluentPostgresWireDriver needs the SwiftNIO
            // stack: Integrations/' READMEIntegrationExamplesTests builds and runs it.
            let integrationModules = ["PostgresWireSQLKit", "FluentPostgresWireDriver"]
            if lines.contains(where: { line in integrationModules.contains { line.trimmingCharacters(in: .whitespaces).hasPrefix("import \($0)") } }) {
                return READMEBlock(kind: .integration, line: line, info: info, text: text)
            }
            return READMEBlock(kind: isFragment ? .fragment : .wholeSwift, line: line, info: info, text: text)
        case "sql":
            guard lines.first?.trimmingCharacters(in: .whitespaces).hasPrefix("-- setup") == true else { return nil }
            return READMEBlock(kind: .setup, line: line, info: info, text: text)
        case "sh", "bash", "shell", "console":
            guard text.range(of: #"(^|[^A-Za-z0-9_-])pgwire([^A-Za-z0-9_-]|$)"#, options: .regularExpression) != nil else { return nil }
            return READMEBlock(kind: .shell, line: line, info: info, text: text)
        default:
            return nil
        }
    }

    static func all() throws -> [READMEBlock] { blocks(try readme()) }
    static func examples() throws -> [READMEBlock] { try all().filter { $0.kind == .wholeSwift } }
    static func shellBlocks() throws -> [READMEBlock] { try all().filter { $0.kind == .shell } }
}

/// The generated package, built once per test process, and the set-up template database.
enum READMEPackage {
    struct Built: Sendable {
        /// Directory holding the example executables.
        let binDirectory: String
        /// The database the setup block ran in; examples run on copies of it.
        let setupDatabase: String
        /// The compiler's warnings about README.md's own code.
        let readmeWarnings: [String]
    }

    static func built() throws -> Built { try result.get() }

    private static let result: Result<Built, any Error> = Result { try build() }

    static let scratchPath = repositoryRoot.appendingPathComponent(".build-readme").path

    private static func build() throws -> Built {
        let blocks = try READMEExtraction.all()
        let server = try TestServer.shared()

        // The setup block, once, in a database of its own.
        let setupDatabase = "readme_setup"
        try server.execute("DROP DATABASE IF EXISTS \(setupDatabase) WITH (FORCE); CREATE DATABASE \(setupDatabase)")
        for setup in blocks where setup.kind == .setup {
            try server.execute(setup.text, database: setupDatabase)
        }

        // The package, in a temporary directory removed as soon as it is built (the products live
        // in the scratch path).
        let packageDirectory = try makeTemporaryDirectory("pgwire-readme-package")
        defer { try? FileManager.default.removeItem(atPath: packageDirectory) }
        let readmePath = repositoryRoot.appendingPathComponent("README.md").path
        let dependencyIdentity = repositoryRoot.lastPathComponent
        var targets: [String] = []
        for example in blocks where example.kind == .wholeSwift {
            let source = "#sourceLocation(file: \(swiftLiteral(readmePath)), line: \(example.line))\n\(example.text)\n"
            try write(source, to: "\(packageDirectory)/Sources/\(example.name)/main.swift")
            targets.append(".executableTarget(name: \(swiftLiteral(example.name)), dependencies: dependencies)")
        }
        var fragments = "import Foundation\nimport PostgresWire\n"
        for fragment in blocks where fragment.kind == .fragment {
            fragments += """

                func \(fragment.name)(connection: Connection) async throws {
                #sourceLocation(file: \(swiftLiteral(readmePath)), line: \(fragment.line))
                \(fragment.text)
                #sourceLocation()
                }

                """
        }
        try write(fragments, to: "\(packageDirectory)/Sources/READMEFragments/Fragments.swift")
        targets.append(".target(name: \"READMEFragments\", dependencies: dependencies)")
        let manifest = """
            // swift-tools-version:6.0
            import PackageDescription

            let dependencies: [Target.Dependency] = [
                .product(name: "PostgresWire", package: \(swiftLiteral(dependencyIdentity))),
                // The Observability section's example plugs the driver into these.
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
            let package = Package(
                name: "READMEExamples",
                platforms: [.macOS(.v14)],
                dependencies: [
                    .package(path: \(swiftLiteral(repositoryRoot.path))),
                    .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
                    .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
                    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
                    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
                ],
                targets: [
                    \(targets.joined(separator: ",\n        "))
                ],
                swiftLanguageModes: [.v6]
            )

            """
        try write(manifest, to: "\(packageDirectory)/Package.swift")

        // SwiftPM and the compiler put lock and temporary files in TMPDIR: keep them in the scratch
        // path, so that the test leaves nothing behind in the temporary directory.
        var environment = ProcessInfo.processInfo.environment
        let temporaryDirectory = scratchPath + "/tmp"
        try FileManager.default.createDirectory(atPath: temporaryDirectory, withIntermediateDirectories: true)
        environment["TMPDIR"] = temporaryDirectory
        let build = try runProcess(
            "swift", ["build", "--package-path", packageDirectory, "--scratch-path", scratchPath],
            environment: environment, timeout: 1800)
        guard build.status == 0 else {
            // The compiler's errors (with the README.md line they are on), or all of the output.
            let lines = (build.stdout + "\n" + build.stderr).split(separator: "\n", omittingEmptySubsequences: false)
            var report: [Substring] = []
            for (index, line) in lines.enumerated() where line.contains("error:") {
                report += lines[index..<min(lines.count, index + 6)]
            }
            let output = report.isEmpty ? "\(build.stdout)\n\(build.stderr)" : report.joined(separator: "\n")
            throw TestServerError("the README's Swift blocks do not build (swift build exited \(build.status)):\n\(output)")
        }
        let binPath = try runProcess(
            "swift", ["build", "--package-path", packageDirectory, "--scratch-path", scratchPath, "--show-bin-path"],
            environment: environment, timeout: 600)
        guard binPath.status == 0 else { throw TestServerError("swift build --show-bin-path failed:\n\(binPath)") }
        let readmeWarnings = (build.stdout + "\n" + build.stderr).split(separator: "\n")
            .filter { $0.hasPrefix(readmePath + ":") && $0.contains(": warning:") }.map(String.init)
        return Built(
            binDirectory: binPath.stdout.trimmingCharacters(in: .whitespacesAndNewlines), setupDatabase: setupDatabase,
            readmeWarnings: readmeWarnings)
    }

    /// Runs `body` with the environment of the test server pointing at a fresh copy of the set-up
    /// database, dropped afterwards.
    static func withDatabaseCopy<T>(for block: READMEBlock, _ body: ([String: String]) throws -> T) throws -> T {
        let built = try built()
        let server = try TestServer.shared()
        let database = "readme_line\(block.line)"
        try server.execute("DROP DATABASE IF EXISTS \(database) WITH (FORCE); CREATE DATABASE \(database) TEMPLATE \(built.setupDatabase)")
        defer { try? server.execute("DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
        var environment = server.environment()
        environment["PGDATABASE"] = database
        return try body(environment)
    }

    static func makeTemporaryDirectory(_ prefix: String) throws -> String {
        var template = Array((NSTemporaryDirectory() + "/\(prefix)-XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else { throw TestServerError("mkdtemp failed") }
        return String(cString: created)
    }

    private static func write(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    private static func swiftLiteral(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// The script the test runs for a shell block: each command followed by a check of its exit status.
func readmeShellScript(_ block: READMEBlock) -> String {
    var script = """
        trap 'kill $(jobs -p) 2>/dev/null' EXIT
        __readme_check() {
            if [ "$1" -ne "$2" ]; then
                echo "README.md line $3 exited $1, expected $2" >&2
                exit 100
            fi
        }

        """
    var lines = block.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if block.info == "console" {
        // Only the commands (after the prompt) run; the rest is their output.
        lines = lines.map { $0.hasPrefix("$ ") ? String($0.dropFirst(2)) : "" }
    }
    var index = 0
    while index < lines.count {
        let lineNumber = block.line + index
        var command = lines[index]
        while command.hasSuffix("\\") && index + 1 < lines.count {
            command = String(command.dropLast()) + " " + lines[index + 1]
            index += 1
        }
        index += 1
        let trimmed = command.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
        if trimmed.hasPrefix("swift build") { continue }   // pgwire is built already
        var expected = 0
        if let match = trimmed.range(of: #"#\s*exits\s+[0-9]+\s*$"#, options: .regularExpression) {
            expected = Int(trimmed[match].filter(\.isNumber)) ?? 0
        }
        command = command
            .replacingOccurrences(of: "swift run -c release pgwire", with: "pgwire")
            .replacingOccurrences(of: "swift run pgwire", with: "pgwire")
            .replacingOccurrences(of: #"(\./)?\.build/(release|debug)/pgwire"#, with: "pgwire", options: .regularExpression)
        let withoutComment = trimmed.replacingOccurrences(of: #"\s+#[^'"]*$"#, with: "", options: .regularExpression)
        script += command + "\n"
        if !withoutComment.hasSuffix("&") {
            script += "__readme_check $? \(expected) \(lineNumber)\n"
        }
    }
    return script
}

@Suite("README examples")
struct READMEExamplesTests {
    @Test func blockCounts() throws {
        let blocks = try READMEExtraction.all()
        func count(_ kind: READMEBlock.Kind) -> Int { blocks.filter { $0.kind == kind }.count }
        print("README.md blocks extracted: \(count(.wholeSwift)) whole Swift examples, \(count(.fragment)) Swift fragments, \(count(.integration)) Integrations/ Swift examples, \(count(.setup)) SQL setup blocks, \(count(.shell)) pgwire shell blocks")
        #expect(count(.wholeSwift) >= 3, "the README needs at least three whole Swift examples")
        #expect(count(.wholeSwift) > count(.fragment), "fragments are the exception")
        #expect(count(.setup) == 1, "the README shows one ```sql block starting with `-- setup`")
        #expect(count(.shell) >= 1)
        // The examples find the server through the PG* variables: no hard-coded host, role or password.
        for block in blocks where block.kind == .wholeSwift || block.kind == .integration {
            for forbidden in ["localhost", "127.0.0.1", "user=", "password=", "postgresql://", "host="] {
                #expect(!block.text.contains(forbidden), "\(block.testDescription) hard-codes `\(forbidden)`")
            }
        }
        for setup in blocks where setup.kind == .setup {
            let sql = setup.text.uppercased()
            for forbidden in ["CREATE ROLE", "CREATE USER", "CREATE DATABASE", "\\C "] {
                #expect(!sql.contains(forbidden), "the setup block must only create objects in the current database")
            }
        }
    }

    @Test func extractionRecognisesTheConventions() {
        let text = """
            ```swift
            // fragment: inside a function
            print(1)
            ```
            ```swift
            import PostgresWire
            ```
            ```sql
            -- setup
            CREATE TABLE x (a int);
            ```
            ```sql
            SELECT 1;
            ```
            ```sh
            pgwire query "SELECT 1"   # exits 1
            swift build
            ls
            ```
            ```text
            pgwire query x
            ```
            """
        let blocks = READMEExtraction.blocks(text)
        #expect(blocks.map(\.kind) == [.fragment, .wholeSwift, .setup, .shell])
        #expect(blocks.map(\.line) == [2, 6, 9, 16])
        let script = readmeShellScript(blocks[3])
        #expect(script.contains("pgwire query \"SELECT 1\"   # exits 1\n__readme_check $? 1 16\n"))
        #expect(!script.contains("swift build"))
        #expect(script.contains("ls\n__readme_check $? 0 18\n"))
    }

    @Test func swiftBlocksCompileWithoutWarnings() throws {
        // (The targets of the generated package are new on every run, so they are always recompiled.)
        let built = try READMEPackage.built()
        #expect(built.readmeWarnings.isEmpty, "\(built.readmeWarnings.joined(separator: "\n"))")
    }

    @Test("README Swift example builds and runs", arguments: try READMEExtraction.examples())
    func example(_ block: READMEBlock) throws {
        let built = try READMEPackage.built()
        let result = try READMEPackage.withDatabaseCopy(for: block) { environment in
            try runProcess(built.binDirectory + "/" + block.name, [], environment: environment, timeout: 60)
        }
        #expect(result.status == 0, "\(block.testDescription) failed:\n\(result)")
    }

    @Test("README pgwire shell block runs", arguments: try READMEExtraction.shellBlocks())
    func shellBlock(_ block: READMEBlock) throws {
        _ = try READMEPackage.built()   // the setup database
        let pgwire = try PgwireBinary.path()
        let directory = try READMEPackage.makeTemporaryDirectory("pgwire-readme-shell")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Relative paths of the README (scripts/with-server) resolve as in the repository.
        try FileManager.default.createSymbolicLink(
            atPath: directory + "/scripts", withDestinationPath: repositoryRoot.appendingPathComponent("scripts").path)
        let script = readmeShellScript(block)
        let result = try READMEPackage.withDatabaseCopy(for: block) { environment in
            var environment = environment
            environment["PATH"] = URL(fileURLWithPath: pgwire).deletingLastPathComponent().path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
            return try runProcess("bash", ["-c", script], environment: environment, timeout: 120, currentDirectory: directory)
        }
        #expect(result.status == 0, "\(block.testDescription) failed:\n\(script)\n\(result)")
    }
}
