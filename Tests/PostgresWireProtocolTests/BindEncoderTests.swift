import Testing
@testable import PostgresWireProtocol

@Suite("Bind encoder and DataRow column starts")
struct BindEncoderTests {
    /// `values` with one format code each, as `PostgresBindings` fills them.
    private func parameters(_ values: [[UInt8]?], formats: [Int16]) -> BindParameters {
        BindParameters(values, formats: formats)
    }

    @Test("parameter format codes: none when all are text, one when all are binary, else one each")
    func derivedParameterFormats() throws {
        let values: [[UInt8]?] = [[0, 0, 0, 7], nil, bytes("x")]
        for (formats, sent) in [([Int16(0), 0, 0], [Int16]()), ([1, 1, 1], [1]), ([1, 0, 1], [1, 0, 1])] {
            var encoder = BindEncoder()
            var out: [UInt8] = []
            encoder.encode(statement: "s", parameters: parameters(values, formats: formats), resultFormats: [1], into: &out)
            let expected = FrontendMessage.bind(Bind(statement: "s", parameterFormats: sent, parameters: values, resultFormats: [1])).encoded
            #expect(out == expected)
            #expect(try FrontendMessage.decode(type: out[0], body: out[5...])
                == .bind(Bind(statement: "s", parameterFormats: sent, parameters: values, resultFormats: [1])))
        }
    }

    @Test("the reused statement part follows portal, statement and result formats")
    func reuse() {
        // Unnamed statements of a pipeline share the name "" but not their result formats.
        let binds = [
            Bind(statement: "", parameters: [bytes("1")], resultFormats: [1]),
            Bind(statement: "", parameters: [bytes("2")], resultFormats: [0]),
            Bind(statement: "", parameters: [bytes("3")], resultFormats: [0]),
            Bind(statement: "a", parameters: [], resultFormats: [0]),
            Bind(portal: "p", statement: "a", parameters: [], resultFormats: [0]),
            Bind(statement: "a", parameters: [nil], resultFormats: [1, 0]),
            Bind(statement: "a", parameters: [nil], resultFormats: [1, 0]),
        ]
        var encoder = BindEncoder()
        var out: [UInt8] = []
        var expected: [UInt8] = []
        for bind in binds {
            encoder.encode(portal: bind.portal, statement: bind.statement, parameters: BindParameters(bind.parameters),
                           resultFormats: bind.resultFormats, into: &out)
            FrontendMessage.bind(bind).encode(into: &expected)
        }
        #expect(out == expected)
    }

    @Test("result format codes collapse to one when they agree")
    func collapsedFormats() {
        #expect(BindEncoder.collapsedFormatCodes([]) == [])
        #expect(BindEncoder.collapsedFormatCodes([1, 1, 1]) == [1])
        #expect(BindEncoder.collapsedFormatCodes([0]) == [0])
        #expect(BindEncoder.collapsedFormatCodes([1, 0]) == [1, 0])
    }

    @Test("DataRow columns read the same from decoded rows, built rows and rows with long columns")
    func dataRowColumnStarts() throws {
        let long = [UInt8](repeating: 7, count: 70_000)
        let rows: [[[UInt8]?]] = [
            [],
            [bytes("a")],
            [nil, [], bytes("bc"), nil, bytes("def"), [1], nil],
            [long, bytes("x"), nil, bytes("yz"), [], bytes("w")],
            [bytes("x"), long, bytes("y"), nil, bytes("z")],
            [bytes("x"), bytes("y"), long, bytes("z"), long, [5]],
        ]
        for values in rows {
            let encoded = BackendMessage.dataRow(DataRow(values: values)).encoded
            let (t, b) = splitTyped(encoded)
            guard case .dataRow(let decoded)? = decodeBackend(type: t, body: b).value else {
                Issue.record("not a DataRow")
                return
            }
            let built = DataRow(columnCount: values.count, storage: decoded.storage)
            for row in [decoded, built, DataRow(values: values)] {
                #expect(row.columnCount == values.count)
                #expect(row.values == values)
                for i in values.indices { #expect(row[i].map(Array.init) == values[i]) }
            }
            #expect(built.layout == decoded.layout)
        }
    }

    private struct Refused: Error {}

    @Test("parameters are kept as records: types, formats, values and NULLs read back, a failed value leaves nothing")
    func parameterRecords() throws {
        var p = BindParameters()
        #expect(p.count == 0 && p.bytes.isEmpty && p.uniformFormatCode == .some(nil))
        p.append([0, 0, 0, 7], typeOID: 23, format: 1)
        p.appendNull(typeOID: 25, format: 0)
        let start = p.beginValue(typeOID: 17, format: 1)
        #expect(throws: Refused.self) {
            try p.withValueBytes(startedAt: start) { (bytes: inout [UInt8]) throws(Refused) in
                bytes.append(contentsOf: [1, 2, 3])
                throw Refused()
            }
        }
        #expect(p.count == 2)
        let long = [UInt8](repeating: 9, count: 70_000)
        let next = p.beginValue(typeOID: 0xFFFF_FFFE, format: -2)
        p.withValueBytes(startedAt: next) { $0.append(contentsOf: long) }
        p.append([], typeOID: 25, format: 0)
        let slots = Array(p.slots)
        #expect(p.count == 4 && slots.count == 4)
        #expect(slots.map(\.typeOID) == [23, 25, 0xFFFF_FFFE, 25])
        #expect(slots.map(\.format) == [1, 0, -2, 0])
        #expect(slots.map(\.length) == [4, -1, 70_000, 0])
        #expect(Array(p.bytes[slots[0].offset..<(slots[0].offset + 4)]) == [0, 0, 0, 7])
        #expect(Array(p.bytes[slots[2].offset..<(slots[2].offset + 70_000)]) == long)
        for i in 0..<4 { #expect(p.slot(at: i) == slots[i]) }
        #expect(p.uniformFormatCode == nil)
        #expect(p.encodedValuesSize == (4 + 4) + 4 + (4 + 70_000) + 4)
        // What Bind sends is the same as for the values given directly.
        var encoder = BindEncoder()
        var out: [UInt8] = []
        encoder.encode(statement: "s", parameters: p, resultFormats: [], into: &out)
        let values: [[UInt8]?] = [[0, 0, 0, 7], nil, long, []]
        #expect(out == FrontendMessage.bind(Bind(statement: "s", parameterFormats: [1, 0, -2, 0], parameters: values, resultFormats: [])).encoded)
    }
}
