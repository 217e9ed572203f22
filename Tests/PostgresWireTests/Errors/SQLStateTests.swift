import Foundation
import PostgresWire
import Testing
import TestSupport

/// The generated SQLSTATE constants: current with errcodes.txt, and equal to what a real server sends.
@Suite struct SQLStateTests {
    static let errcodes = "/usr/share/postgresql/15/errcodes.txt"
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// scripts/generate-sqlstate writes exactly the committed file.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: errcodes)))
    func generatedFileIsCurrent() throws {
        let committed = Self.repository.appendingPathComponent("Sources/PostgresWireTypes/Errors/SQLState+Codes.swift")
        let fresh = FileManager.default.temporaryDirectory.appendingPathComponent("sqlstate-\(getpid()).swift")
        defer { try? FileManager.default.removeItem(at: fresh) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.repository.appendingPathComponent("scripts/generate-sqlstate").path, Self.errcodes, fresh.path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let expected = try String(contentsOf: fresh, encoding: .utf8)
        let actual = try String(contentsOf: committed, encoding: .utf8)
        #expect(expected == actual, "Sources/PostgresWireTypes/Errors/SQLState+Codes.swift is stale: run scripts/generate-sqlstate")
        // Every code line of errcodes.txt has a constant.
        let codes = try String(contentsOfFile: Self.errcodes, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") && !$0.hasPrefix("Section") && !$0.isEmpty }
        #expect(codes.count > 250)
        for line in codes {
            let code = String(line.prefix(5))
            #expect(actual.contains("SQLState(unchecked: \"\(code)\")"), "no constant for \(code)")
        }
    }

    @Test func constantsNamesAndClasses() {
        #expect(SQLState.uniqueViolation.rawValue == "23505")
        #expect(SQLState.undefinedTable == "42P01")
        #expect(SQLState.successfulCompletion == "00000")
        #expect(SQLState.inFailedSQLTransaction == "25P02")
        #expect(SQLState.uniqueViolation.conditionName == "unique_violation")
        #expect(SQLState(conditionName: "undefined_table") == .undefinedTable)
        #expect(SQLState(conditionName: "no_such_condition") == nil)
        #expect(SQLState("ZZ999").conditionName == nil)
        // A name shared by two codes: the plain name is the code whose C macro has it.
        #expect(SQLState.stringDataRightTruncation == "22001")
        #expect(SQLState.warningStringDataRightTruncation == "01004")
        // A second macro for the same code is an alias.
        #expect(SQLState.undefinedCursor == SQLState.invalidCursorName)

        let integrity = SQLState.uniqueViolation.class
        #expect(integrity == .integrityConstraintViolation)
        #expect(integrity.code == "23")
        #expect(integrity.name == "integrity_constraint_violation")
        #expect(integrity.title == "Integrity Constraint Violation")
        #expect(integrity.category == .integrity)
        #expect(integrity.genericCode == "23000")
        #expect(SQLState.Class(code: "42") == .syntaxErrorOrAccessRuleViolation)
        #expect(SQLState.Class.all.count > 40)
        #expect(SQLState.Class(code: "ZZ").category == .database)

        // PEP 249 categories by class, as psycopg maps them.
        #expect(SQLState.divisionByZero.category == .data)
        #expect(SQLState.syntaxError.category == .programming)
        #expect(SQLState.serializationFailure.category == .operational)
        #expect(SQLState.featureNotSupported.category == .notSupported)
        #expect(SQLState.inFailedSQLTransaction.category == .internal)
        #expect(SQLState.snapshotTooOld.category == .database)
        #expect(ErrorCategory(sqlState: "23503") == .integrity)
    }

    /// The constants are the codes a real server sends.
    @Test func constantsMatchTheServer() throws {
        let conn = try Connection.open(dbapiTestDSN())
        defer { conn.close() }
        let table = dbapiUniqueName("sqlstate")
        try conn.simpleQuery("CREATE TEMP TABLE \(table) (id int PRIMARY KEY, n int NOT NULL)")
        try conn.simpleQuery("INSERT INTO \(table) VALUES (1, 1)")
        let cases: [(String, SQLState)] = [
            ("INSERT INTO \(table) VALUES (1, 1)", .uniqueViolation),
            ("INSERT INTO \(table) VALUES (2, NULL)", .notNullViolation),
            ("SELECT * FROM no_such_table_\(getpid())", .undefinedTable),
            ("SELECT 1/0", .divisionByZero),
            ("SELEC 1", .syntaxError),
            ("SELECT 'x'::int", .invalidTextRepresentation),
        ]
        for (sql, state) in cases {
            do {
                try conn.simpleQuery(sql)
                Issue.record("\(sql) succeeded")
            } catch {
                let sqlState = (error as? PostgresError)?.sqlState
                #expect(sqlState == state, "\(sql)")
                #expect(sqlState?.category == state.category)
            }
        }
        do {
            try conn.simpleQuery("INSERT INTO \(table) VALUES (1, 1)")
        } catch SQLState.uniqueViolation {
            // the pattern matches
        } catch {
            Issue.record("catch SQLState.uniqueViolation did not match \(error)")
        }
    }
}
