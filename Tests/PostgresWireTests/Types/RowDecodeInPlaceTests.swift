import Foundation
import PostgresWire
import PostgresWireProtocol
import Testing

/// `Row.decode` reads the built-in scalars (Int, Int64, Int32, Double, Date, Bool, UUID, String
/// and their optionals) from the row's bytes in place and leaves everything else to the codecs:
/// for every column here the result, value or error, must be what the codec itself gives.
@Suite struct RowDecodeInPlaceTests {
    struct Column {
        var oid: PostgresDataType
        var binary: Bool
        var bytes: [UInt8]?
    }

    static func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }

    static let columns: [Column] = [
        Column(oid: .int2, binary: true, bytes: be(Int16(-7))),
        Column(oid: .int4, binary: true, bytes: be(Int32.min)),
        Column(oid: .int4, binary: true, bytes: be(Int32(123_456))),
        Column(oid: .int8, binary: true, bytes: be(Int64.max)),
        Column(oid: .int8, binary: true, bytes: be(Int64(-5_000_000_000))),
        Column(oid: .int4, binary: true, bytes: [0, 1]),                       // wrong length
        Column(oid: .int4, binary: true, bytes: nil),                          // NULL
        Column(oid: .int4, binary: false, bytes: Array("42".utf8)),
        Column(oid: .int4, binary: false, bytes: Array("x".utf8)),
        Column(oid: .oid, binary: true, bytes: be(UInt32(99))),
        Column(oid: .float8, binary: true, bytes: be((2.5).bitPattern)),
        Column(oid: .float8, binary: true, bytes: be(Double.nan.bitPattern)),
        Column(oid: .float4, binary: true, bytes: be(Float(0.1).bitPattern)),
        Column(oid: .float8, binary: true, bytes: [1, 2, 3]),
        Column(oid: .float8, binary: false, bytes: Array("1.5".utf8)),
        Column(oid: .numeric, binary: false, bytes: Array("1.5".utf8)),
        Column(oid: .timestamptz, binary: true, bytes: be(Int64(777_000_123_456))),
        Column(oid: .timestamp, binary: true, bytes: be(Int64(-1))),
        Column(oid: .timestamptz, binary: true, bytes: be(Int64.max)),         // infinity
        Column(oid: .timestamptz, binary: true, bytes: be(Int64.min)),         // -infinity
        Column(oid: .timestamptz, binary: false, bytes: Array("2024-01-02 03:04:05+00".utf8)),
        Column(oid: .date, binary: true, bytes: be(Int32(10))),
        Column(oid: .bool, binary: true, bytes: [1]),
        Column(oid: .bool, binary: true, bytes: [0]),
        Column(oid: .bool, binary: true, bytes: [2]),
        Column(oid: .bool, binary: false, bytes: Array("t".utf8)),
        Column(oid: .text, binary: true, bytes: Array("c4ca4238a0b923820dcc509a6f75849b".utf8)),
        Column(oid: .text, binary: true, bytes: Array("12345".utf8)),
        Column(oid: .text, binary: true, bytes: []),
        Column(oid: .varchar, binary: true, bytes: Array("grüße, 世界 and more than sixteen bytes".utf8)),
        Column(oid: .text, binary: true, bytes: [0x61, 0xFF, 0x62]),           // invalid UTF-8
        Column(oid: .text, binary: true, bytes: [0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0xC3]),
        Column(oid: .bpchar, binary: true, bytes: Array("ab  ".utf8)),
        Column(oid: .name, binary: true, bytes: Array("pg_class".utf8)),
        Column(oid: .json, binary: true, bytes: Array("{\"a\":1}".utf8)),
        Column(oid: .jsonb, binary: true, bytes: [1] + Array("{\"a\": 1}".utf8)),
        Column(oid: .int4, binary: false, bytes: Array(" 17 ".utf8)),
        Column(oid: .uuid, binary: true, bytes: Array(0..<16)),
        Column(oid: .uuid, binary: true, bytes: Array(0..<15)),
        Column(oid: .uuid, binary: false, bytes: Array("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".utf8)),
        Column(oid: .bool, binary: true, bytes: nil),
        Column(oid: .timestamptz, binary: true, bytes: nil),
        Column(oid: .float8, binary: true, bytes: nil),
        Column(oid: .text, binary: true, bytes: nil),
    ]

    static let row = Row(
        columns: ResultColumns(RowDescription(fields: columns.enumerated().map { i, c in
            RowDescription.Field(name: "c\(i)", dataTypeOID: c.oid.rawValue, dataTypeSize: -1, typeModifier: -1,
                                 formatCode: c.binary ? 1 : 0)
        })),
        data: DataRow(values: columns.map(\.bytes)))

    /// What the codec gives for column `index`, as `Row.decode` reported it before the in-place
    /// readers: the value, or the error naming the column.
    static func viaCodec<T: PostgresDecodable>(_: T.Type, _ index: Int) -> String {
        let c = columns[index]
        do throws(PostgresCodingError) {
            let context = PostgresDecodingContext.default
            let format: PostgresFormat = c.binary ? .binary : .text
            let v: T
            if let bytes = c.bytes {
                v = try T.decode(from: bytes[...], type: c.oid, format: format, context: context)
            } else {
                v = try T.decodeNull(type: c.oid, context: context)
            }
            return "value \(v)"
        } catch {
            var e = error
            e.column = "c\(index)"
            return "error \(PostgresError.coding(e))"
        }
    }

    static func viaRow<T: PostgresDecodable>(_: T.Type, _ index: Int) -> String {
        do {
            return "value \(try row.decode(T.self, at: index))"
        } catch {
            return "error \(error)"
        }
    }

    /// Through a generic function, so that `decode` runs unspecialised as well.
    @inline(never)
    static func viaGenericRow<T: PostgresDecodable>(_: T.Type, _ index: Int) -> String { viaRow(T.self, index) }

    static func check<T: PostgresDecodable>(_: T.Type) {
        for i in columns.indices {
            let expected = viaCodec(T.self, i)
            #expect(viaRow(T.self, i) == expected, "\(T.self) from column \(i) (\(columns[i].oid))")
            #expect(viaGenericRow(T.self, i) == expected, "\(T.self) from column \(i) (\(columns[i].oid)), generic")
        }
    }

    @Test func int() { Self.check(Int.self) }
    @Test func int64() { Self.check(Int64.self) }
    @Test func int32() { Self.check(Int32.self) }
    @Test func double() { Self.check(Double.self) }
    @Test func date() { Self.check(Date.self) }
    @Test func bool() { Self.check(Bool.self) }
    @Test func string() { Self.check(String.self) }
    @Test func uuid() { Self.check(UUID.self) }
    @Test func optionals() {
        Self.check(Int?.self)
        Self.check(Int64?.self)
        Self.check(Int32?.self)
        Self.check(Double?.self)
        Self.check(Date?.self)
        Self.check(Bool?.self)
        Self.check(UUID?.self)
        Self.check(String?.self)
    }

    @Test func indexOutOfRange() {
        for index in [-1, Self.columns.count, Self.columns.count + 5] {
            for result in [Self.viaRow(Int.self, index), Self.viaRow(String.self, index), Self.viaRow(Date.self, index),
                           Self.viaGenericRow(Double.self, index), Self.viaRow(Bool.self, index)] {
                #expect(result.hasPrefix("error") && result.contains("#\(index)"), "\(result)")
            }
        }
    }

    @Test func decodedStringsAreEqualToTheText() throws {
        let md5 = try Self.row.decode(String.self, at: 26)
        #expect(md5 == "c4ca4238a0b923820dcc509a6f75849b")
        #expect(try Self.row.decode(String.self, at: 28) == "")
        #expect(try Self.row.decode(String.self, at: 29) == "grüße, 世界 and more than sixteen bytes")
    }

    @Test func contextKeepsItsParametersAndRegistry() {
        var context = PostgresDecodingContext.default
        #expect(context.parameters.isEmpty)
        #expect(context.registry === PostgresTypeRegistry.shared)
        context.parameters["DateStyle"] = "ISO, DMY"
        #expect(context.parameters == ["DateStyle": "ISO, DMY"])
        #expect(context.registry === PostgresTypeRegistry.shared)
        let registry = PostgresTypeRegistry()
        context.registry = registry
        #expect(context.registry === registry)
        #expect(context.parameters == ["DateStyle": "ISO, DMY"])
        let made = PostgresDecodingContext(parameters: ["TimeZone": "UTC"], registry: registry)
        #expect(made.parameters == ["TimeZone": "UTC"] && made.registry === registry)
    }
}
