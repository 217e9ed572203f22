import Foundation
import NIOCore
import PostgresWire
import TestSupport
import TodoAPI
import Vapor
import XCTest

/// Drives the Todo API over real HTTP (the app listens on a TCP port; requests go through
/// AsyncHTTPClient) against a throwaway PostgreSQL, and checks the rows with `pgwire query`.
final class TodoAPITests: XCTestCase {
    func testCRUDValidationConflictAndTransactionOverHTTP() async throws {
        let server = try TestServer.shared()
        try server.execute("DROP DATABASE IF EXISTS todo_api WITH (FORCE); CREATE DATABASE todo_api OWNER pgwire_trust;")
        let dsn = server.dsn(database: "todo_api")

        let app = try await Application.make(.testing)
        do {
            try await configure(app, connectionString: dsn)
            try await app.autoMigrate().get()
            try await app.server.start(address: .hostname("127.0.0.1", port: 0))
            let port = try XCTUnwrap(app.http.server.shared.localAddress?.port)
            try await exercise(app: app, base: "http://127.0.0.1:\(port)", dsn: dsn)
        } catch {
            await app.server.shutdown()
            try? await app.asyncShutdown()
            throw error
        }
        await app.server.shutdown()
        try await app.asyncShutdown()
    }

    private struct List: Codable { var id: UUID; var title: String; var todos: [Item] }
    private struct Item: Codable { var id: UUID; var title: String; var done: Bool; var listID: UUID }

    private func exercise(app: Application, base: String, dsn: String) async throws {
        let client = app.client

        // Create a list and its todos in one transaction.
        var response = try await client.post(URI(string: "\(base)/lists"), content: NewList(title: "Groceries", todos: ["milk", "eggs"]))
        XCTAssertEqual(response.status, .created, response.body.map { String(buffer: $0) } ?? "")
        let groceries = try response.content.decode(List.self)
        XCTAssertEqual(groceries.todos.map(\.title).sorted(), ["eggs", "milk"])

        // Add a todo to it.
        response = try await client.post(URI(string: "\(base)/lists/\(groceries.id)/todos"), content: ["title": "bread"])
        XCTAssertEqual(response.status, .created)
        let bread = try response.content.decode(Item.self)

        // A failing validation: an empty title is a 400 and writes nothing.
        response = try await client.post(URI(string: "\(base)/lists/\(groceries.id)/todos"), content: ["title": ""])
        XCTAssertEqual(response.status, .badRequest)

        // The same list title again violates the unique constraint: 409, and the transaction left no todo behind.
        response = try await client.post(URI(string: "\(base)/lists"), content: NewList(title: "Groceries", todos: ["orphan"]))
        XCTAssertEqual(response.status, .conflict, response.body.map { String(buffer: $0) } ?? "")

        // A transaction that fails half-way (an empty todo title after a valid one) is rolled back entirely.
        response = try await client.post(URI(string: "\(base)/lists"), content: NewList(title: "Chores", todos: ["dishes", ""]))
        XCTAssertEqual(response.status, .badRequest)

        // Update.
        response = try await client.patch(URI(string: "\(base)/todos/\(bread.id)"), content: ["done": true])
        XCTAssertEqual(response.status, .ok)
        XCTAssertEqual(try response.content.decode(Item.self).done, true)

        // List.
        response = try await client.get(URI(string: "\(base)/lists"))
        XCTAssertEqual(response.status, .ok)
        let lists = try response.content.decode([List].self)
        XCTAssertEqual(lists.map(\.title), ["Groceries"])
        XCTAssertEqual(lists.first?.todos.count, 3)

        // Delete.
        let milk = try XCTUnwrap(groceries.todos.first { $0.title == "milk" })
        response = try await client.delete(URI(string: "\(base)/todos/\(milk.id)"))
        XCTAssertEqual(response.status, .noContent)
        response = try await client.delete(URI(string: "\(base)/todos/\(milk.id)"))
        XCTAssertEqual(response.status, .notFound)

        // What the database holds, read with the pgwire CLI.
        let rows = try pgwire(["query", "--dsn", dsn, "--format", "csv",
                               "SELECT l.title AS list, t.title, t.done FROM todos t JOIN todo_lists l ON l.id = t.list_id ORDER BY t.title"])
        XCTAssertEqual(rows, "list,title,done\nGroceries,bread,t\nGroceries,eggs,f\n")
        let counts = try pgwire(["query", "--dsn", dsn, "--format", "csv",
                                 "SELECT (SELECT count(*) FROM todo_lists) AS lists, (SELECT count(*) FROM todos WHERE title IN ('orphan', 'dishes', '')) AS rolled_back"])
        XCTAssertEqual(counts, "lists,rolled_back\n1,0\n")
    }

    /// Runs the `pgwire` CLI of this checkout (built by the root package; built here if missing).
    private func pgwire(_ arguments: [String]) throws -> String {
        let result = try runProcess(try Self.pgwireBinary(), arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout
    }

    private static func pgwireBinary() throws -> String {
        if let explicit = ProcessInfo.processInfo.environment["PGWIRE_BINARY"], !explicit.isEmpty { return explicit }
        // Examples/TodoAPI/Tests/TodoAPITests/TodoAPITests.swift → the repository root.
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<6 { root.deleteLastPathComponent() }
        for configuration in ["debug", "release"] {
            let candidate = root.appendingPathComponent(".build/\(configuration)/pgwire").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        let build = try runProcess("swift", ["build", "--package-path", root.path, "--product", "pgwire"], timeout: 1800)
        guard build.status == 0 else { throw TestServerError("could not build pgwire: \(build.stderr)") }
        return root.appendingPathComponent(".build/debug/pgwire").path
    }
}

/// The body of POST /lists.
struct NewList: Content {
    var title: String
    var todos: [String]
}
