import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing
import TestSupport

/// Row decoding by index, by name and into Decodable structs, from real server rows in text
/// format (simple query) and binary format (the same row fetched with COPY BINARY).
@Suite struct CodecRowTests {
    static let select = """
        SELECT 1::int4 AS a, 'x'::text AS b, NULL::int4 AS c, 1099511627776::int8 AS big, 1.5::float8 AS f,
               ARRAY[1,2]::int4[] AS arr, '{"name":"n","tags":["t"]}'::jsonb AS payload, 12.50::numeric AS amount,
               '2021-07-01 12:00:00+00'::timestamptz AS created_at, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id,
               '\\x0102'::bytea AS blob, true AS flag, ARRAY[[1,NULL],[3,4]]::int8[] AS grid, 'ok'::text AS status,
               '1 day'::interval AS span, NULL::text AS note
        """

    struct Payload: Codable, Equatable {
        var name: String
        var tags: [String]
    }

    enum Status: String, Decodable { case ok, failed }

    /// The row in text format and in binary format.
    static func rows() throws -> (connection: Connection, text: Row, binary: Row) {
        let oracle = try CodecOracle()
        let result = try oracle.connection.simpleQuery(select)[0]
        let text = result.rows[0]
        var copied: [UInt8] = []
        try oracle.connection.simpleQuery("COPY (\(select)) TO STDOUT (FORMAT binary)") { event in
            if case .copyData(let d) = event { copied.append(contentsOf: d) }
        }
        let values = try CodecOracle.parseBinaryCopy(copied)[0]
        var fields = result.columns!.fields
        for i in fields.indices { fields[i].formatCode = 1 }
        let binary = Row(columns: ResultColumns(RowDescription(fields: fields)), data: DataRow(values: values))
        return (oracle.connection, text, binary)
    }

    @Test(arguments: ["text", "binary"])
    func byIndexAndName(format: String) throws {
        let (connection, textRow, binaryRow) = try Self.rows()
        let row = format == "text" ? textRow : binaryRow
        let context = PostgresDecodingContext(parameters: connection.parameters)
        #expect(try row.decode(Int.self, at: 0, context: context) == 1)
        #expect(try row.decode(Int32.self, named: "a") == 1)
        #expect(try row.decode(String.self, named: "b") == "x")
        #expect(try row.decode(Int?.self, named: "c") == nil)
        #expect(try row.decode(Int64.self, named: "big") == 1_099_511_627_776)
        #expect(try row.decode(Double.self, named: "f") == 1.5)
        #expect(try row.decode([Int].self, named: "arr") == [1, 2])
        #expect(try row.decode(PostgresJSON<Payload>.self, named: "payload").value == Payload(name: "n", tags: ["t"]))
        #expect(try row.decode(Decimal.self, named: "amount") == Decimal(string: "12.5")!)
        #expect(try row.decode(PostgresNumeric.self, named: "amount").description == "12.50")
        #expect(try row.decode(Date.self, named: "created_at", context: context) == Date(timeIntervalSince1970: 1_625_140_800))
        #expect(try row.decode(UUID.self, named: "id") == UUID(uuidString: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"))
        #expect(try row.decode([UInt8].self, named: "blob") == [1, 2])
        #expect(try row.decode(Data.self, named: "blob") == Data([1, 2]))
        #expect(try row.decode(Bool.self, named: "flag"))
        #expect(try row.decode([[Int?]].self, named: "grid") == [[1, nil], [3, 4]])
        #expect(try row.decode(PostgresInterval.self, named: "span") == PostgresInterval(days: 1))
        let inferred: String? = try row.decode(at: 15)
        #expect(inferred == nil)
        // Any column reads as String (binary values are rendered as the server prints them).
        #expect(try row.decode(String.self, named: "f") == "1.5")
        #expect(try row.decode(String.self, named: "arr") == "{1,2}")
        #expect(try row.decode(String.self, named: "created_at", context: context) == "2021-07-01 12:00:00+00")
    }

    @Test(arguments: ["text", "binary"])
    func errorsNameTheColumn(format: String) throws {
        let (_, textRow, binaryRow) = try Self.rows()
        let row = format == "text" ? textRow : binaryRow
        func check(_ expected: PostgresCodingError.Reason, _ column: String, _ body: () throws -> Void) {
            do {
                try body()
                Issue.record("no error for \(column)")
            } catch let error as PostgresError {
                // Row decoding throws the one error type; the coding failure is its payload.
                guard case .coding(let e) = error else { Issue.record("expected coding, got \(error)"); return }
                #expect(error.category == .data)
                #expect(e.reason == expected, "\(column): \(e)")
                #expect(e.column == column, "\(e)")
                #expect(e.description.contains("column \"\(column)\""))
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        check(.overflow, "big") { _ = try row.decode(Int32.self, named: "big") }
        check(.unexpectedNull, "c") { _ = try row.decode(Int.self, named: "c") }
        check(.typeMismatch, "f") { _ = try row.decode(Int.self, named: "f") }
        check(.typeMismatch, "b") { _ = try row.decode(Int.self, named: "b") }
        check(.typeMismatch, "a") { _ = try row.decode(Double.self, named: "a") }
        check(.typeMismatch, "amount") { _ = try row.decode(Double.self, named: "amount") }
        check(.unexpectedNull, "grid") { _ = try row.decode([[Int]].self, named: "grid") }
        check(.typeMismatch, "arr") { _ = try row.decode([Bool].self, named: "arr") }
        check(.missingColumn, "nope") { _ = try row.decode(Int.self, named: "nope") }
        check(.missingColumn, "#99") { _ = try row.decode(Int.self, at: 99) }
        struct Narrow: Decodable { var big: Int32 }
        check(.overflow, "big") { _ = try row.decode(Narrow.self) }
        #expect(try row.decode(Int16?.self, named: "c") == nil)
    }

    @Test(arguments: ["text", "binary"])
    func wholeRowIntoStruct(format: String) throws {
        let (connection, textRow, binaryRow) = try Self.rows()
        let row = format == "text" ? textRow : binaryRow
        let context = PostgresDecodingContext(parameters: connection.parameters)
        struct Loose: Decodable {
            var a: Int
            var big: Int64
            var createdAt: Date
            var payload: Payload
            var grid: [[Int?]]
            var status: Status
            var note: String?
            var missing: String?
        }
        let r = try row.decode(Loose.self, keyStrategy: .convertFromSnakeCase, context: context)
        #expect(r.a == 1 && r.big == 1_099_511_627_776 && r.createdAt == Date(timeIntervalSince1970: 1_625_140_800))
        #expect(r.payload == Payload(name: "n", tags: ["t"]) && r.grid == [[1, nil], [3, 4]] && r.status == .ok)
        #expect(r.note == nil && r.missing == nil)
        // Without the key strategy, created_at is not found.
        #expect(throws: PostgresError.self) { try row.decode(Loose.self, context: context) }
        struct Strict: Decodable { var nope: Int }
        let e = #expect(throws: PostgresError.self) { try row.decode(Strict.self) }?.codingError
        #expect(e?.reason == .missingColumn && e?.column == "nope")
        struct WrongType: Decodable { var b: Int }
        let w = #expect(throws: PostgresError.self) { try row.decode(WrongType.self) }?.codingError
        #expect(w?.reason == .typeMismatch && w?.column == "b")
    }

    @Test func singleColumnRowDecodesAsValue() throws {
        let oracle = try CodecOracle()
        let row = try oracle.connection.simpleQuery("SELECT 42::int8 AS answer")[0].rows[0]
        #expect(try row.decode(Int.self) == 42)
        #expect(try row.decode(Int.self, at: 0) == 42)
    }

    /// A user enum and a composite: registered by OID, they render and decode from binary.
    @Test func userTypes() throws {
        let oracle = try CodecOracle()
        let c = oracle.connection
        let suffix = UInt32.random(in: 0...UInt32.max)
        let mood = "codec_mood_\(suffix)", pair = "codec_pair_\(suffix)"
        try c.simpleQuery("CREATE TYPE \(mood) AS ENUM ('sad', 'ok', 'happy ever'); CREATE TYPE \(pair) AS (a int4, b text, m \(mood))")
        defer { _ = try? c.simpleQuery("DROP TYPE \(pair); DROP TYPE \(mood)") }
        let oids = try c.simpleQuery("""
            SELECT t.oid, t.typarray FROM pg_type t WHERE t.typname IN ('\(mood)', '\(pair)') ORDER BY t.typname = '\(mood)' DESC
            """)[0].rows
        let moodOID = PostgresDataType(UInt32(oids[0][0]!)!), moodArray = PostgresDataType(UInt32(oids[0][1]!)!)
        let pairOID = PostgresDataType(UInt32(oids[1][0]!)!), pairArray = PostgresDataType(UInt32(oids[1][1]!)!)

        let registry = PostgresTypeRegistry()
        #expect(registry.resultFormat(for: moodOID) == .text)
        #expect(!PostgresTextRenderer.supportsBinary(moodArray, registry: registry))
        registry.registerEnum(moodOID, name: mood, arrayType: moodArray)
        registry.registerComposite(pairOID, name: pair, arrayType: pairArray)
        #expect(registry.resultFormat(for: moodArray) == .binary)

        let values = try oracle.values([
            "'happy ever'::\(mood)", "ARRAY['sad', 'happy ever', NULL]::\(mood)[]", "ROW(1, 'x y', 'ok')::\(pair)",
            "ARRAY[ROW(2, NULL, 'sad')::\(pair), ROW(3, '', NULL)::\(pair)]", "ROW(1, 'a', '(x)', ARRAY[1,2], NULL, 1.5::float8)",
        ])
        let settings = try oracle.settings()
        for v in values {
            let rendered = try PostgresTextRenderer.render(v.binary![...], type: v.type, settings: settings, registry: registry)
            #expect(rendered == v.text, "\(v.expression)")
        }
        let context = PostgresDecodingContext(parameters: c.parameters, registry: registry)
        #expect(try String.decode(from: values[0].binary![...], type: moodOID, format: .binary, context: context) == "happy ever")
        #expect(try [String?].decode(from: values[1].binary![...], type: moodArray, format: .binary, context: context)
            == ["sad", "happy ever", nil])
        let record = try PostgresRecord.decode(from: values[2].binary![...], type: pairOID, format: .binary, context: context)
        #expect(try record.decode(Int.self, at: 0) == 1 && record.decode(String.self, at: 1) == "x y")
        #expect(try record.decode(String.self, at: 2, context: context) == "ok")
        let textRecord = try PostgresRecord.decode(from: Array(values[2].text!.utf8)[...], type: pairOID, format: .text, context: context)
        #expect(try textRecord.decode(Int.self, at: 0) == 1 && textRecord.decode(String.self, at: 1) == "x y")
    }
}
