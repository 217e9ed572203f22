/// A PostgreSQL array with everything the server keeps: its dimensions with their lower bounds,
/// and the elements in row-major order (make `Element` optional to allow NULL elements).
/// Swift arrays (`[Int]`, `[[String?]]`) read the same values but drop lower bounds.
public struct PostgresArray<Element> {
    public typealias Dimension = PostgresArrayDimension

    /// Empty for an empty array (which has no dimensions in PostgreSQL).
    public var dimensions: [Dimension]
    public var elements: [Element]

    public init(dimensions: [Dimension], elements: [Element]) {
        self.dimensions = dimensions
        self.elements = elements
    }

    /// A one-dimensional array; empty elements give the empty array.
    public init(_ elements: [Element], lowerBound: Int = 1) {
        self.dimensions = elements.isEmpty ? [] : [Dimension(length: elements.count, lowerBound: lowerBound)]
        self.elements = elements
    }

    /// The element at PostgreSQL subscripts (honouring lower bounds); nil when out of range.
    public func element(at subscripts: Int...) -> Element? {
        guard subscripts.count == dimensions.count, !dimensions.isEmpty else { return nil }
        var offset = 0
        for (s, d) in zip(subscripts, dimensions) {
            guard let i = s.checkedSubtracting(d.lowerBound), i >= 0, i < d.length else { return nil }
            offset = offset * d.length + i
        }
        return elements[offset]
    }
}

extension PostgresArray: Sendable where Element: Sendable {}
extension PostgresArray: Equatable where Element: Equatable {}
extension PostgresArray: Hashable where Element: Hashable {}

/// One dimension of a PostgreSQL array: its length and the subscript of its first element.
public struct PostgresArrayDimension: Sendable, Hashable {
    public var length: Int
    public var lowerBound: Int
    public init(length: Int, lowerBound: Int = 1) {
        self.length = length
        self.lowerBound = lowerBound
    }
}

// MARK: Wire layout

/// An array as read from the wire, elements still undecoded.
struct PostgresRawArray {
    var elementType: PostgresDataType
    var dimensions: [PostgresArrayDimension]
    var elements: [ArraySlice<UInt8>?]
    /// The format the elements are in.
    var format: PostgresFormat

    static let maxDimensions = 6

    static func parse(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                      context: PostgresDecodingContext, swiftType: Any.Type) throws(PostgresCodingError) -> PostgresRawArray {
        let registry = context.registry
        let isVector = type == .int2vector || type == .oidvector
        let declaredElement: PostgresDataType? = type == .int2vector ? .int2 : type == .oidvector ? .oid : registry.elementType(ofArray: type)
        if declaredElement == nil, registry.kind(of: type) != nil {
            // A known type that is not an array.
            throw PostgresCodingError(.typeMismatch, type: type, swiftType: swiftType)
        }
        switch format {
        case .binary:
            let raw = try parseBinary(bytes, type: type, swiftType: swiftType)
            if let declaredElement, raw.elementType != declaredElement, !isVector {
                throw PostgresCodingError(.invalidData("element type \(raw.elementType) in an array of \(declaredElement)"), type: type, swiftType: swiftType)
            }
            return raw
        case .text:
            if isVector {
                let parts = bytes.split(separator: UInt8(ascii: " "))
                return PostgresRawArray(elementType: declaredElement!, dimensions: parts.isEmpty ? [] : [.init(length: parts.count)],
                                        elements: parts.map { $0 }, format: .text)
            }
            return try parseText(bytes, elementType: declaredElement ?? .unknown, delimiter: type == .boxArray ? UInt8(ascii: ";") : UInt8(ascii: ","),
                                 type: type, swiftType: swiftType)
        }
    }

    static func parseBinary(_ bytes: ArraySlice<UInt8>, type: PostgresDataType, swiftType: Any.Type) throws(PostgresCodingError) -> PostgresRawArray {
        var r = PostgresBinaryReader(bytes, type: type, swiftType: swiftType)
        let ndim = try r.readInteger(Int32.self, "ndim")
        let flags = try r.readInteger(Int32.self, "flags")
        let elementType = PostgresDataType(try r.readInteger(UInt32.self, "element type"))
        guard ndim >= 0, ndim <= maxDimensions else { throw r.invalid("invalid number of dimensions \(ndim)") }
        guard flags == 0 || flags == 1 else { throw r.invalid("invalid array flags \(flags)") }
        var dims: [PostgresArrayDimension] = []
        var total = ndim == 0 ? 0 : 1
        for _ in 0..<ndim {
            let length = try r.readInteger(Int32.self, "dimension")
            let lb = try r.readInteger(Int32.self, "lower bound")
            guard length >= 0 else { throw r.invalid("negative dimension") }
            let (t, o) = total.multipliedReportingOverflow(by: Int(length))
            guard !o, t <= r.remaining / 4 + 1 else { throw r.invalid("array size exceeds the data") }
            total = t
            dims.append(.init(length: Int(length), lowerBound: Int(lb)))
        }
        if total == 0 { dims = [] }
        guard total <= r.remaining / 4 else { throw r.invalid("array size exceeds the data") }
        var elements: [ArraySlice<UInt8>?] = []
        elements.reserveCapacity(total)
        for _ in 0..<total { elements.append(try r.readLengthPrefixed("element")) }
        try r.expectEnd("array")
        return PostgresRawArray(elementType: elementType, dimensions: dims, elements: elements, format: .binary)
    }

    /// array_in's syntax: optional "[lb:ub]...=" decoration, nested braces, quoted or bare
    /// elements with backslash escapes, bare NULL.
    static func parseText(_ bytes: ArraySlice<UInt8>, elementType: PostgresDataType, delimiter: UInt8,
                          type: PostgresDataType, swiftType: Any.Type) throws(PostgresCodingError) -> PostgresRawArray {
        let s = Array(bytes)
        var i = 0
        func invalid(_ why: String) -> PostgresCodingError {
            PostgresCodingError(.invalidData("malformed array literal: \(why)"), type: type, swiftType: swiftType)
        }
        func skipSpace() { while i < s.count, PostgresCodecSupport.isSpace(s[i]) { i += 1 } }
        func readInt() -> Int? {
            var j = i
            if j < s.count, s[j] == UInt8(ascii: "-") || s[j] == UInt8(ascii: "+") { j += 1 }
            while j < s.count, s[j] >= 48, s[j] <= 57 { j += 1 }
            guard let v = Int(String(decoding: s[i..<j], as: UTF8.self)) else { return nil }
            i = j
            return v
        }
        skipSpace()
        var explicitDims: [PostgresArrayDimension] = []
        while i < s.count, s[i] == UInt8(ascii: "[") {
            i += 1
            guard var lb = readInt() else { throw invalid("bad dimension") }
            var ub = lb
            if i < s.count, s[i] == UInt8(ascii: ":") {
                i += 1
                guard let u = readInt() else { throw invalid("bad dimension") }
                ub = u
            } else {
                lb = 1
            }
            // Bounds are int4 in PostgreSQL; anything wider is not an array the server sent.
            guard i < s.count, s[i] == UInt8(ascii: "]"), Int32(exactly: lb) != nil, Int32(exactly: ub) != nil, ub >= lb - 1 else {
                throw invalid("bad dimension")
            }
            i += 1
            explicitDims.append(.init(length: ub - lb + 1, lowerBound: lb))
        }
        if !explicitDims.isEmpty {
            skipSpace()
            guard i < s.count, s[i] == UInt8(ascii: "=") else { throw invalid("missing \"=\" after dimensions") }
            i += 1
            skipSpace()
        }
        var lengths = [Int?](repeating: nil, count: maxDimensions)
        var leafDepth: Int?
        var elements: [ArraySlice<UInt8>?] = []

        func parseLevel(_ depth: Int) throws(PostgresCodingError) {
            guard depth < maxDimensions else { throw invalid("too many dimensions") }
            guard i < s.count, s[i] == UInt8(ascii: "{") else { throw invalid("expected \"{\"") }
            i += 1
            skipSpace()
            var count = 0
            if i < s.count, s[i] == UInt8(ascii: "}") {
                i += 1
                if depth == 0 { return }
                throw invalid("empty sub-array")
            }
            while true {
                skipSpace()
                guard i < s.count else { throw invalid("unexpected end") }
                if s[i] == UInt8(ascii: "{") {
                    if let leafDepth, leafDepth != depth + 1 && leafDepth <= depth { throw invalid("mixed dimensions") }
                    try parseLevel(depth + 1)
                } else {
                    if let leafDepth, leafDepth != depth { throw invalid("mixed dimensions") }
                    leafDepth = depth
                    elements.append(try parseElement())
                }
                count += 1
                skipSpace()
                guard i < s.count else { throw invalid("unexpected end") }
                if s[i] == delimiter { i += 1; continue }
                if s[i] == UInt8(ascii: "}") { i += 1; break }
                throw invalid("unexpected character")
            }
            if let known = lengths[depth], known != count { throw invalid("sub-arrays of different lengths") }
            lengths[depth] = count
        }

        func parseElement() throws(PostgresCodingError) -> ArraySlice<UInt8>? {
            var out: [UInt8] = []
            if s[i] == UInt8(ascii: "\"") {
                i += 1
                while true {
                    guard i < s.count else { throw invalid("unterminated quoted element") }
                    let c = s[i]
                    if c == UInt8(ascii: "\\") {
                        guard i + 1 < s.count else { throw invalid("unterminated escape") }
                        out.append(s[i + 1])
                        i += 2
                    } else if c == UInt8(ascii: "\"") {
                        i += 1
                        break
                    } else {
                        out.append(c)
                        i += 1
                    }
                }
                return out[...]
            }
            var escaped = false
            var lastSignificant = 0
            while i < s.count {
                let c = s[i]
                if c == delimiter || c == UInt8(ascii: "}") { break }
                if c == UInt8(ascii: "{") || c == UInt8(ascii: "\"") { throw invalid("unexpected character in element") }
                if c == UInt8(ascii: "\\") {
                    guard i + 1 < s.count else { throw invalid("unterminated escape") }
                    out.append(s[i + 1])
                    escaped = true
                    lastSignificant = out.count
                    i += 2
                    continue
                }
                out.append(c)
                if !PostgresCodecSupport.isSpace(c) { lastSignificant = out.count }
                i += 1
            }
            out.removeLast(out.count - lastSignificant)
            if out.isEmpty { throw invalid("empty element") }
            if !escaped, out.count == 4, String(decoding: out, as: UTF8.self).uppercased() == "NULL" { return nil }
            return out[...]
        }

        try parseLevel(0)
        skipSpace()
        guard i == s.count else { throw invalid("junk after closing brace") }
        var dims = lengths.prefix { $0 != nil }.map { PostgresArrayDimension(length: $0!) }
        if elements.isEmpty { dims = [] }
        if !explicitDims.isEmpty {
            guard explicitDims.map(\.length) == dims.map(\.length) || (elements.isEmpty && explicitDims.allSatisfy { $0.length == 0 }) else {
                throw invalid("dimensions do not match the contents")
            }
            if !elements.isEmpty { dims = explicitDims }
        }
        return PostgresRawArray(elementType: elementType, dimensions: dims, elements: elements, format: .text)
    }

    /// Decodes every element as `T`.
    func decodeElements<T: PostgresDecodable>(_: T.Type, context: PostgresDecodingContext) throws(PostgresCodingError) -> [T] {
        var out: [T] = []
        out.reserveCapacity(elements.count)
        for e in elements {
            if let e {
                out.append(try T.decode(from: e, type: elementType, format: format, context: context))
            } else {
                out.append(try T.decodeNull(type: elementType, context: context))
            }
        }
        return out
    }

    /// The array_send layout.
    static func encodeBinary(into buffer: inout [UInt8], elementType: PostgresDataType, dimensions: [PostgresArrayDimension],
                             elements: [any PostgresEncodable], context: PostgresEncodingContext) throws(PostgresCodingError) {
        let dims = elements.isEmpty ? [] : dimensions
        buffer.appendBigEndian(Int32(dims.count))
        buffer.appendBigEndian(Int32(elements.contains { $0.isPostgresNull } ? 1 : 0))
        buffer.appendBigEndian(elementType.rawValue)
        for d in dims {
            buffer.appendBigEndian(Int32(truncatingIfNeeded: d.length))
            buffer.appendBigEndian(Int32(truncatingIfNeeded: d.lowerBound))
        }
        for e in elements {
            if e.isPostgresNull {
                buffer.appendBigEndian(Int32(-1))
            } else {
                try buffer.appendLengthPrefixed { (b: inout [UInt8]) throws(PostgresCodingError) in try e.encode(into: &b, context: context) }
            }
        }
    }
}

extension PostgresDataType {
    public static let boxArray = PostgresDataType(1020)
}

// MARK: Swift arrays

/// Lets `[[T]]` read and write multi-dimensional arrays: implemented by Array only.
protocol PostgresNestedArrayDecodable {
    static var isByteArray: Bool { get }
    static func decodeNested(_ raw: PostgresRawArray, elements: ArraySlice<ArraySlice<UInt8>?>, dimensions: ArraySlice<Int>,
                             context: PostgresDecodingContext) throws(PostgresCodingError) -> Self
}

protocol PostgresNestedArrayEncodable {
    static var isByteArray: Bool { get }
    static var innermostElementType: PostgresDataType { get }
    /// Appends the leaves and checks that every sub-array at `depth` has the same shape.
    func flatten(into leaves: inout [any PostgresEncodable], shape: inout [Int], depth: Int) throws(PostgresCodingError)
}

extension Array: PostgresNestedArrayDecodable where Element: PostgresDecodable {
    static var isByteArray: Bool { Element.self == UInt8.self }

    static func decodeNested(_ raw: PostgresRawArray, elements: ArraySlice<ArraySlice<UInt8>?>, dimensions: ArraySlice<Int>,
                             context: PostgresDecodingContext) throws(PostgresCodingError) -> [Element] {
        if let nested = Element.self as? any PostgresNestedArrayDecodable.Type, !nested.isByteArray {
            guard dimensions.count >= 2 else {
                throw PostgresCodingError(.invalidData("the array has fewer dimensions than \(Self.self)"), type: raw.elementType, swiftType: Self.self)
            }
            let inner = dimensions.dropFirst()
            let stride = inner.reduce(1, *)
            var out: [Element] = []
            out.reserveCapacity(dimensions.first!)
            var start = elements.startIndex
            for _ in 0..<dimensions.first! {
                out.append(try nested.decodeNested(raw, elements: elements[start..<(start + stride)], dimensions: inner, context: context) as! Element)
                start += stride
            }
            return out
        }
        guard dimensions.count == 1 else {
            throw PostgresCodingError(.invalidData("the array has \(dimensions.count) dimensions; decode a nested Swift array or PostgresArray"),
                                      type: raw.elementType, swiftType: Self.self)
        }
        var out: [Element] = []
        out.reserveCapacity(elements.count)
        for e in elements {
            if let e {
                out.append(try Element.decode(from: e, type: raw.elementType, format: raw.format, context: context))
            } else {
                out.append(try Element.decodeNull(type: raw.elementType, context: context))
            }
        }
        return out
    }
}

extension Array: PostgresDecodable where Element: PostgresDecodable {
    /// `[UInt8]` reads `bytea`; every other element type reads an array column (any number of
    /// dimensions as nested Swift arrays; lower bounds are dropped, see `PostgresArray`).
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> [Element] {
        if Element.self == UInt8.self, type == .bytea || type == .unknown {
            return try PostgresByteaCodec.decode(bytes, type: type, format: format, swiftType: Self.self) as! [Element]
        }
        let raw = try PostgresRawArray.parse(bytes, type: type, format: format, context: context, swiftType: Self.self)
        if raw.elements.isEmpty { return [] }
        return try decodeNested(raw, elements: raw.elements[...], dimensions: raw.dimensions.map(\.length)[...], context: context)
    }
}

extension Array: PostgresNestedArrayEncodable where Element: PostgresEncodable {
    static var isByteArray: Bool { Element.self == UInt8.self }

    static var innermostElementType: PostgresDataType {
        if let nested = Element.self as? any PostgresNestedArrayEncodable.Type, !nested.isByteArray {
            return nested.innermostElementType
        }
        return Element.postgresDataType
    }

    func flatten(into leaves: inout [any PostgresEncodable], shape: inout [Int], depth: Int) throws(PostgresCodingError) {
        if shape.count <= depth { shape.append(count) } else if shape[depth] != count {
            throw PostgresCodingError(.invalidData("sub-arrays must all have the same length"), type: Self.postgresDataType, swiftType: Self.self)
        }
        for e in self {
            if let nested = e as? any PostgresNestedArrayEncodable, !type(of: nested).isByteArray {
                try nested.flatten(into: &leaves, shape: &shape, depth: depth + 1)
            } else {
                leaves.append(e)
            }
        }
    }
}

extension Array: PostgresEncodable where Element: PostgresEncodable {
    /// `bytea` for `[UInt8]`; otherwise the array type over the innermost element type.
    public static var postgresDataType: PostgresDataType {
        if Element.self == UInt8.self { return .bytea }
        if let nested = Element.self as? any PostgresNestedArrayEncodable.Type, !nested.isByteArray {
            return Element.postgresDataType
        }
        return Element.postgresArrayDataType
    }
    public static var postgresFormat: PostgresFormat { .binary }
    public static var postgresArrayDataType: PostgresDataType {
        Element.self == UInt8.self ? .byteaArray : postgresDataType
    }

    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        if Element.self == UInt8.self {
            buffer.append(contentsOf: self as! [UInt8])
            return
        }
        var leaves: [any PostgresEncodable] = []
        var shape: [Int] = []
        try flatten(into: &leaves, shape: &shape, depth: 0)
        if shape.count > PostgresRawArray.maxDimensions {
            throw PostgresCodingError(.invalidData("more than 6 dimensions"), type: Self.postgresDataType, swiftType: Self.self)
        }
        if leaves.isEmpty { shape = [] }
        let elementType = Self.innermostElementType
        if let first = leaves.first, type(of: first).postgresFormat != .binary {
            throw PostgresCodingError(.invalidData("elements of type \(type(of: first)) have no binary encoding"), type: Self.postgresDataType, swiftType: Self.self)
        }
        try PostgresRawArray.encodeBinary(into: &buffer, elementType: elementType, dimensions: shape.map { .init(length: $0) },
                                          elements: leaves, context: context)
    }
}

// MARK: PostgresArray

extension PostgresArray: PostgresDecodable where Element: PostgresDecodable {
    public static func decode(from bytes: ArraySlice<UInt8>, type: PostgresDataType, format: PostgresFormat,
                              context: PostgresDecodingContext) throws(PostgresCodingError) -> PostgresArray<Element> {
        let raw = try PostgresRawArray.parse(bytes, type: type, format: format, context: context, swiftType: Self.self)
        return PostgresArray(dimensions: raw.dimensions, elements: try raw.decodeElements(Element.self, context: context))
    }
}

extension PostgresArray: PostgresEncodable where Element: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { Element.postgresArrayDataType }
    public static var postgresFormat: PostgresFormat { .binary }
    public static var postgresArrayDataType: PostgresDataType { postgresDataType }

    public func encode(into buffer: inout [UInt8], context: PostgresEncodingContext) throws(PostgresCodingError) {
        let expected = dimensions.reduce(Optional(1)) { product, d in product?.checkedMultiplied(by: d.length) }
        guard (dimensions.isEmpty && elements.isEmpty) || expected == elements.count, dimensions.count <= PostgresRawArray.maxDimensions else {
            throw PostgresCodingError(.invalidData("dimensions do not match the element count"), type: Self.postgresDataType, swiftType: Self.self)
        }
        try PostgresRawArray.encodeBinary(into: &buffer, elementType: Element.postgresDataType,
                                          dimensions: dimensions,
                                          elements: elements.map { $0 as any PostgresEncodable }, context: context)
    }
}
