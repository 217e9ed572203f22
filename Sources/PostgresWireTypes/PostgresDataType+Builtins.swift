extension PostgresDataType {
    public static let int2vector = PostgresDataType(22)
    public static let regproc = PostgresDataType(24)
    public static let tid = PostgresDataType(27)
    public static let xid = PostgresDataType(28)
    public static let cid = PostgresDataType(29)
    public static let oidvector = PostgresDataType(30)
    public static let point = PostgresDataType(600)
    public static let lseg = PostgresDataType(601)
    public static let path = PostgresDataType(602)
    public static let box = PostgresDataType(603)
    public static let polygon = PostgresDataType(604)
    public static let line = PostgresDataType(628)
    public static let circle = PostgresDataType(718)
    public static let macaddr8 = PostgresDataType(774)
    public static let bit = PostgresDataType(1560)
    public static let varbit = PostgresDataType(1562)
    public static let refcursor = PostgresDataType(1790)
    public static let void = PostgresDataType(2278)
    public static let regclass = PostgresDataType(2205)
    public static let regtype = PostgresDataType(2206)
    public static let pgLSN = PostgresDataType(3220)
    public static let jsonpath = PostgresDataType(4072)
    public static let xid8 = PostgresDataType(5069)
    public static let int4multirange = PostgresDataType(4451)
    public static let nummultirange = PostgresDataType(4532)
    public static let tsmultirange = PostgresDataType(4533)
    public static let tstzmultirange = PostgresDataType(4534)
    public static let datemultirange = PostgresDataType(4535)
    public static let int8multirange = PostgresDataType(4536)

    public static let moneyArray = PostgresDataType(791)
    public static let macaddr8Array = PostgresDataType(775)
    public static let recordArray = PostgresDataType(2287)
    public static let int4rangeArray = PostgresDataType(3905)
    public static let numrangeArray = PostgresDataType(3907)
    public static let tsrangeArray = PostgresDataType(3909)
    public static let tstzrangeArray = PostgresDataType(3911)
    public static let daterangeArray = PostgresDataType(3913)
    public static let int8rangeArray = PostgresDataType(3927)

    /// The built-in type's name (`typname`), nil if the driver does not know the OID.
    public var builtinName: String? { PostgresBuiltinTypes.byOID[rawValue]?.name }
}

/// What kind of type an OID is; decides how its binary value is laid out.
public enum PostgresTypeKind: Sendable, Equatable {
    /// A base type with its own binary format.
    case base
    /// An array whose elements have the given type (binary: the array_send layout).
    case array(element: PostgresDataType)
    /// A range over the given subtype.
    case range(subtype: PostgresDataType)
    /// A multirange of the given range type.
    case multirange(range: PostgresDataType)
    /// An enum: its binary and text forms are the label.
    case enumeration
    /// A composite (row) type: binary is the record_send layout.
    case composite
    /// A type whose binary form is its text (citext, domains over text…).
    case textual
}

package struct PostgresBuiltinType: Sendable {
    package let oid: UInt32
    package let name: String
    package let kind: PostgresTypeKind
    package let arrayOID: UInt32?
    /// Whether result columns of this type are requested in binary: types with a Swift codec.
    /// (The renderer prints more, e.g. geometric types: see `PostgresTextRenderer.supportsBinary`.)
    package let binary: Bool
}

package enum PostgresBuiltinTypes {
    // (oid, name, array oid, binary supported)
    private static let scalars: [(UInt32, String, UInt32?, Bool)] = [
        (16, "bool", 1000, true), (17, "bytea", 1001, true), (18, "char", 1002, true), (19, "name", 1003, true),
        (20, "int8", 1016, true), (21, "int2", 1005, true), (22, "int2vector", 1006, true), (23, "int4", 1007, true),
        (24, "regproc", 1008, false), (25, "text", 1009, true), (26, "oid", 1028, true), (27, "tid", 1010, false),
        (28, "xid", 1011, true), (29, "cid", 1012, true), (30, "oidvector", 1013, true), (114, "json", 199, true),
        (142, "xml", 143, false), (600, "point", 1017, false), (601, "lseg", 1018, false), (602, "path", 1019, false),
        (603, "box", 1020, false), (604, "polygon", 1027, false), (628, "line", 629, false), (650, "cidr", 651, true),
        (700, "float4", 1021, true), (701, "float8", 1022, true), (705, "unknown", nil, true), (718, "circle", 719, false),
        (774, "macaddr8", 775, true), (790, "money", 791, false), (829, "macaddr", 1040, true), (869, "inet", 1041, true),
        (1033, "aclitem", 1034, false), (1042, "bpchar", 1014, true), (1043, "varchar", 1015, true),
        (1082, "date", 1182, true), (1083, "time", 1183, true), (1114, "timestamp", 1115, true),
        (1184, "timestamptz", 1185, true), (1186, "interval", 1187, true), (1266, "timetz", 1270, true),
        (1560, "bit", 1561, false), (1562, "varbit", 1563, false), (1700, "numeric", 1231, true),
        (1790, "refcursor", 2201, true), (2202, "regprocedure", 2207, false), (2203, "regoper", 2208, false),
        (2204, "regoperator", 2209, false), (2205, "regclass", 2210, false), (2206, "regtype", 2211, false),
        (2249, "record", 2287, false), (2278, "void", nil, false), (2950, "uuid", 2951, true),
        (2970, "txid_snapshot", 2949, false), (3220, "pg_lsn", 3221, true), (3614, "tsvector", 3643, false),
        (3615, "tsquery", 3645, false), (3734, "regconfig", 3735, false), (3769, "regdictionary", 3770, false),
        (3802, "jsonb", 3807, true), (4072, "jsonpath", 4073, true), (4089, "regnamespace", 4090, false),
        (4096, "regrole", 4097, false), (4191, "regcollation", 4192, false), (5038, "pg_snapshot", 5039, false),
        (5069, "xid8", 271, true),
    ]
    private static let ranges: [(UInt32, String, UInt32, UInt32)] = [  // (oid, name, array, subtype)
        (3904, "int4range", 3905, 23), (3906, "numrange", 3907, 1700), (3908, "tsrange", 3909, 1114),
        (3910, "tstzrange", 3911, 1184), (3912, "daterange", 3913, 1082), (3926, "int8range", 3927, 20),
    ]
    private static let multiranges: [(UInt32, String, UInt32, UInt32)] = [  // (oid, name, array, range)
        (4451, "int4multirange", 6150, 3904), (4532, "nummultirange", 6151, 3906), (4533, "tsmultirange", 6152, 3908),
        (4534, "tstzmultirange", 6153, 3910), (4535, "datemultirange", 6155, 3912), (4536, "int8multirange", 6157, 3926),
    ]

    package static let all: [PostgresBuiltinType] = {
        var types: [PostgresBuiltinType] = []
        func addArray(_ array: UInt32?, of element: UInt32, _ name: String, _ binary: Bool) {
            guard let array else { return }
            types.append(PostgresBuiltinType(oid: array, name: "_" + name, kind: .array(element: PostgresDataType(element)),
                                             arrayOID: nil, binary: binary))
        }
        for (oid, name, array, binary) in scalars {
            types.append(PostgresBuiltinType(oid: oid, name: name, kind: oid == 2249 ? .composite : .base, arrayOID: array, binary: binary))
            addArray(array, of: oid, name, binary)
        }
        for (oid, name, array, subtype) in ranges {
            types.append(PostgresBuiltinType(oid: oid, name: name, kind: .range(subtype: PostgresDataType(subtype)), arrayOID: array, binary: true))
            addArray(array, of: oid, name, true)
        }
        for (oid, name, array, range) in multiranges {
            types.append(PostgresBuiltinType(oid: oid, name: name, kind: .multirange(range: PostgresDataType(range)), arrayOID: array, binary: true))
            addArray(array, of: oid, name, true)
        }
        return types
    }()

    package static let byOID: [UInt32: PostgresBuiltinType] = Dictionary(all.map { ($0.oid, $0) }, uniquingKeysWith: { a, _ in a })
}
