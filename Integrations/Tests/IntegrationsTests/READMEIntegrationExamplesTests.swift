import Foundation
import TestSupport
import XCTest

/// The README's Swift blocks that import this package's modules (PostgresWireSQLKit,
/// FluentPostgresWireDriver) need the SwiftNIO stack, so the root package's README test leaves them
/// to this one. Each such block must be, byte for byte, the `main.swift` of an executable in
/// `ReadmeExamples/` (so the README cannot drift from what is built), and that executable must exit
/// 0 against a throwaway server after the README's `-- setup` block, with only PG* variables set.
final class READMEIntegrationExamplesTests: XCTestCase {
    static let integrationModules = ["PostgresWireSQLKit", "FluentPostgresWireDriver"]

    /// Integrations/ (this file is Integrations/Tests/IntegrationsTests/…).
    static var packageDirectory: URL {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }

    /// The ```swift blocks of README.md and the ```sql block starting with `-- setup`.
    static func readmeBlocks() throws -> (swift: [(line: Int, text: String)], setup: String?) {
        let readme = try String(contentsOf: packageDirectory.deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
        var swift: [(line: Int, text: String)] = []
        var setup: String?
        var open: (info: String, line: Int, lines: [String])?
        for (index, line) in readme.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if let block = open {
                if trimmed == "```" {
                    let text = block.lines.joined(separator: "\n") + "\n"
                    if block.info == "swift" { swift.append((block.line, text)) }
                    if block.info == "sql", block.lines.first?.hasPrefix("-- setup") == true { setup = text }
                    open = nil
                } else {
                    open?.lines.append(String(line))
                }
            } else if trimmed.hasPrefix("```") {
                open = (String(trimmed.dropFirst(3)).split(separator: " ").first.map(String.init) ?? "", index + 2, [])
            }
        }
        return (swift, setup)
    }

    static func importsIntegrationModule(_ text: String) -> Bool {
        text.split(separator: "\n").contains { line in
            integrationModules.contains { line.trimmingCharacters(in: .whitespaces).hasPrefix("import \($0)") }
        }
    }

    func testEveryIntegrationBlockIsAnExampleThatRuns() throws {
        let (swift, setup) = try Self.readmeBlocks()
        let blocks = swift.filter { Self.importsIntegrationModule($0.text) }
        XCTAssertFalse(blocks.isEmpty, "README.md has no Swift block importing \(Self.integrationModules)")
        let setupSQL = try XCTUnwrap(setup, "README.md has no ```sql block starting with -- setup")

        // The executables of ReadmeExamples/ and their main.swift.
        let examplesDirectory = Self.packageDirectory.appendingPathComponent("ReadmeExamples")
        var examples: [String: String] = [:]   // main.swift text → directory name
        for name in try FileManager.default.contentsOfDirectory(atPath: examplesDirectory.path).sorted() {
            let main = examplesDirectory.appendingPathComponent(name).appendingPathComponent("main.swift")
            examples[try String(contentsOf: main, encoding: .utf8)] = name
        }
        XCTAssertEqual(examples.count, blocks.count, "one ReadmeExamples/ executable per README block, no more")

        let server = try TestServer.shared()
        for block in blocks {
            guard let name = examples[block.text] else {
                XCTFail("the Swift block at README.md:\(block.line) is not the main.swift of any ReadmeExamples/ executable: copy it there verbatim")
                continue
            }
            XCTAssertFalse(block.text.contains("postgresql://") || block.text.contains("localhost"),
                           "README.md:\(block.line) hard-codes a server; examples use the PG* variables")
            let database = "readme_\(name.lowercased())"
            try server.execute("DROP DATABASE IF EXISTS \(database) WITH (FORCE); CREATE DATABASE \(database) OWNER pgwire_trust;")
            try server.execute(setupSQL, database: database)
            var environment = server.environment()
            environment["PGDATABASE"] = database
            let binary = try Self.binary(named: "readme-example-\(name.lowercased())")
            let result = try runProcess(binary, [], environment: environment, timeout: 60)
            XCTAssertEqual(result.status, 0, "README.md:\(block.line) (ReadmeExamples/\(name)) exited \(result.status): \(result.stderr)")
            print("README.md:\(block.line) ran as ReadmeExamples/\(name): \(result.stdout)", terminator: "")
        }
    }

    /// A product of this package, next to the test bundle (`swift test` builds it; CI builds it
    /// explicitly since it builds only the test product).
    static func binary(named name: String) throws -> String {
        #if os(Linux)
        // The test runner is an executable in the build directory.
        let runner = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let directory = URL(fileURLWithPath: runner).deletingLastPathComponent()
        #else
        let directory = Bundle(for: READMEIntegrationExamplesTests.self).bundleURL.deletingLastPathComponent()
        #endif
        let path = directory.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestServerError("\(path) is missing: run `swift build --product \(name)` in Integrations/ first")
        }
        return path
    }
}
