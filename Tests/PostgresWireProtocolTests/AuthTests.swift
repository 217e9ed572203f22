import Foundation
import Testing
@testable import PostgresWireProtocol

/// Expected values were computed independently with Python's hashlib/hmac, e.g.
///   python3 -c 'import hashlib; i=hashlib.md5(b"secretpostgres").hexdigest(); print("md5"+hashlib.md5(i.encode()+bytes([1,2,3,4])).hexdigest())'
@Suite("Authentication")
struct AuthTests {
    // MARK: Crypto primitives

    @Test("hash primitives match known vectors")
    func hashes() {
        #expect(Crypto.hex(Crypto.sha256(bytes("abc"))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Crypto.hex(Crypto.md5([])) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(Crypto.hex(Crypto.hmacSHA256(key: bytes("key"), data: bytes("The quick brown fox jumps over the lazy dog")))
            == "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")
        #expect(Crypto.hex(Crypto.hmacSHA256(key: [], data: bytes("a")))
            == "9615a95d4a336118c435b9cd54c5e8644ab956b573aa2926274a1280b6674713")
        #expect(Crypto.hex(Crypto.hmacSHA256(key: [], data: []))
            == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
        #expect(Crypto.hex(Crypto.pbkdf2SHA256(password: bytes("password"), salt: bytes("salt"), iterations: 1))
            == "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b")
        #expect(Crypto.sha384([]).count == 48)
        #expect(Crypto.sha512([]).count == 64)
    }

    @Test("hex and random bytes")
    func hexAndRandom() {
        #expect(Crypto.hex([]) == "")
        #expect(Crypto.hex([0x00, 0x0f, 0xf0, 0xff, 0x5a]) == "000ff0ff5a")
        let a = Crypto.randomBytes(32), b = Crypto.randomBytes(32)
        #expect(a.count == 32 && b.count == 32)
        #expect(a != b)
        #expect(Crypto.randomBytes(0).isEmpty)
    }

    // MARK: MD5

    @Test("MD5 password responses match independently computed values")
    func md5() {
        let cases: [(user: String, password: String, salt: [UInt8], expected: String)] = [
            ("postgres", "secret", [1, 2, 3, 4], "md5bb41a296aab6baccb36ff243a562abff"),
            ("alice", "pa55", [0xde, 0xad, 0xbe, 0xef], "md5e3b78c7497e37d2aa83cc1958020dd78"),
        ]
        for c in cases {
            let response = MD5Password.response(user: c.user, password: c.password, salt: c.salt)
            #expect(response == c.expected)
            #expect(response.count == 35)
        }
    }

    // MARK: SCRAM-SHA-256

    static let clientNonce = "rOprNGfwEbeRWgbNEkqO"
    static let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    static let fullNonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"

    /// RFC 7677's vector uses "n=user"; PostgreSQL clients (libpq and ours) send "n=". These values
    /// are for client-first-bare "n=,r=rOprNGfwEbeRWgbNEkqO", computed with Python hashlib/hmac.
    static let proofEmptyUser = "qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k="
    static let serverSignatureEmptyUser = "3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg="
    /// The RFC's own values (for "n=user"), which must not verify for our auth message.
    static let rfcProof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    static let rfcServerSignature = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

    static func client(_ binding: SCRAMClient.ChannelBinding = .unsupported) -> SCRAMClient {
        SCRAMClient(password: "pencil", channelBinding: binding, nonce: clientNonce)
    }

    static func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    @Test("RFC 7677 vector, adapted to PostgreSQL's empty user name")
    func rfc7677Vector() throws {
        var client = Self.client()
        #expect(client.mechanism == "SCRAM-SHA-256")
        #expect(Self.text(client.clientFirstMessage()) == "n,,n=,r=rOprNGfwEbeRWgbNEkqO")
        let final = Self.text(try client.clientFinalMessage(serverFirst: Array(Self.serverFirst.utf8)))
        // The part before the proof is the RFC's client-final-message-without-proof, byte for byte.
        #expect(final.hasPrefix("c=biws,r=\(Self.fullNonce),p="))
        #expect(final == "c=biws,r=\(Self.fullNonce),p=\(Self.proofEmptyUser)")
        #expect(!final.contains(Self.rfcProof))
        try client.verifyServerFinal(Array("v=\(Self.serverSignatureEmptyUser)".utf8))
        // Extensions after v= are ignored.
        try client.verifyServerFinal(Array("v=\(Self.serverSignatureEmptyUser),x=ext".utf8))
        // The RFC's signature belongs to a different auth message.
        #expect(throws: AuthenticationError.serverSignatureMismatch) {
            try client.verifyServerFinal(Array("v=\(Self.rfcServerSignature)".utf8))
        }
    }

    @Test("the proof verifies the way a server checks it")
    func serverSideProofCheck() throws {
        var client = Self.client()
        let first = Self.text(client.clientFirstMessage())
        let final = Self.text(try client.clientFinalMessage(serverFirst: Array(Self.serverFirst.utf8)))
        let proof = try #require(Data(base64Encoded: String(final.split(separator: ",").last!.dropFirst(2))))
        let withoutProof = String(final[..<final.range(of: ",p=")!.lowerBound])
        let authMessage = Array("\(first.dropFirst(3)),\(Self.serverFirst),\(withoutProof)".utf8)
        let salted = Crypto.pbkdf2SHA256(password: bytes("pencil"), salt: Array(Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")!),
                                         iterations: 4096)
        let storedKey = Crypto.sha256(Crypto.hmacSHA256(key: salted, data: bytes("Client Key")))
        let signature = Crypto.hmacSHA256(key: storedKey, data: authMessage)
        let recoveredClientKey = zip(proof, signature).map { $0 ^ $1 }
        #expect(Crypto.sha256(recoveredClientKey) == storedKey)
    }

    @Test("channel binding supported but not used sends y,,")
    func channelBindingY() throws {
        var client = Self.client(.supportedButNotUsed)
        #expect(client.mechanism == "SCRAM-SHA-256")
        #expect(Self.text(client.clientFirstMessage()) == "y,,n=,r=rOprNGfwEbeRWgbNEkqO")
        let final = Self.text(try client.clientFinalMessage(serverFirst: Array(Self.serverFirst.utf8)))
        #expect(final == "c=eSws,r=\(Self.fullNonce),p=VpuC5DGQa5ro9tXE9MnKs69NH1nxnuregZZcclqIGfM=")
        try client.verifyServerFinal(Array("v=FOmOj9BpTGwvnzwBtWQjBaPmVxT9I8IeHBOhcIPu3us=".utf8))
    }

    @Test("tls-server-end-point channel binding")
    func channelBindingTLS() throws {
        var client = Self.client(.tlsServerEndPoint(certificateHash: Array(0..<32)))
        #expect(client.mechanism == "SCRAM-SHA-256-PLUS")
        #expect(Self.text(client.clientFirstMessage()) == "p=tls-server-end-point,,n=,r=rOprNGfwEbeRWgbNEkqO")
        let final = Self.text(try client.clientFinalMessage(serverFirst: Array(Self.serverFirst.utf8)))
        #expect(final == "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,r=\(Self.fullNonce)"
            + ",p=Q8h71kjaoMzNI7dPksDrhRE/5mTUObF0fUHVIgBOWQg=")
        try client.verifyServerFinal(Array("v=ykwoqH8mLqO5AQCeuwwf6lsj9f8zyJZT/CcvAbN4Ssc=".utf8))
    }

    @Test("a generated nonce is printable base64 and differs per client")
    func generatedNonce() {
        var a = SCRAMClient(password: "x"), b = SCRAMClient(password: "x")
        let fa = Self.text(a.clientFirstMessage()), fb = Self.text(b.clientFirstMessage())
        #expect(fa.hasPrefix("n,,n=,r="))
        #expect(fa != fb)
        let nonce = fa.dropFirst("n,,n=,r=".count)
        #expect(nonce.count == 24)
        #expect(Data(base64Encoded: String(nonce)) != nil)
        #expect(!nonce.contains(","))
    }

    static func expectInvalidServerFirst(_ serverFirst: String, sourceLocation: SourceLocation = #_sourceLocation) {
        var client = Self.client()
        _ = client.clientFirstMessage()
        do throws(AuthenticationError) {
            _ = try client.clientFinalMessage(serverFirst: Array(serverFirst.utf8))
            Issue.record("accepted \"\(serverFirst)\"", sourceLocation: sourceLocation)
        } catch {
            guard case .invalidServerMessage = error else {
                Issue.record("unexpected \(error) for \"\(serverFirst)\"", sourceLocation: sourceLocation)
                return
            }
        }
    }

    @Test("server-first-message errors", arguments: [
        // Nonce does not extend ours, or is only ours.
        "r=XXXXNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "r=rOprNGfwEbeRWgbNEk,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "r=,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        // Missing pieces.
        "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "r=rOprNGfwEbeRWgbNEkqO%hvYD,i=4096",
        "r=rOprNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==",
        "",
        // Bad iteration counts.
        "r=rOprNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
        "r=rOprNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
        "r=rOprNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000001",
        "r=rOprNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=abc",
        "r=rOprNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
        "r=rOprNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999999",
        // Bad salts.
        "r=rOprNGfwEbeRWgbNEkqO%hvYD,s=not base64!,i=4096",
        "r=rOprNGfwEbeRWgbNEkqO%hvYD,s=,i=4096",
        // Server errors, mandatory extensions, malformed attributes.
        "e=other-error",
        "r=rOprNGfwEbeRWgbNEkqO%hvYD,e=invalid-encoding,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "m=ext,r=rOprNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "r=rOprNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x",
        "r=rOprNGfwEbeRWgbNEkqO%hvYD,,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "rOprNGfwEbeRWgbNEkqO%hvYD",
    ])
    func invalidServerFirst(_ serverFirst: String) {
        Self.expectInvalidServerFirst(serverFirst)
    }

    @Test("iteration counts at the edges of the accepted range")
    func iterationEdges() throws {
        var one = Self.client()
        _ = one.clientFirstMessage()
        _ = try one.clientFinalMessage(serverFirst: Array("r=\(Self.clientNonce)x,s=AAAA,i=1".utf8))
        #expect(SCRAMClient.maximumIterations == 10_000_000)
        Self.expectInvalidServerFirst("r=\(Self.clientNonce)x,s=AAAA,i=\(SCRAMClient.maximumIterations + 1)")
    }

    @Test("unknown attributes in server-first are ignored")
    func unknownAttributesIgnored() throws {
        var client = Self.client()
        _ = client.clientFirstMessage()
        // Reordered and with an extra attribute: still a valid exchange (the auth message uses the text as sent).
        let final = Self.text(try client.clientFinalMessage(serverFirst: Array((Self.serverFirst + ",z=zzz").utf8)))
        #expect(final.hasPrefix("c=biws,r=\(Self.fullNonce),p="))
    }

    @Test("server-final-message errors")
    func invalidServerFinal() throws {
        var client = Self.client()
        _ = client.clientFirstMessage()
        // Before server-first: nothing to verify against.
        #expect(throws: AuthenticationError.self) { try client.verifyServerFinal(Array("v=\(Self.serverSignatureEmptyUser)".utf8)) }
        _ = try client.clientFinalMessage(serverFirst: Array(Self.serverFirst.utf8))

        for (text, expectMismatch) in [
            ("v=\(Self.rfcServerSignature)", true),
            ("v=AAAA", true),  // wrong length
            ("v=", true),
            ("v=\(Self.serverSignatureEmptyUser.dropLast(4))AAA=", true),
            ("e=invalid-proof", false),
            ("e=other-error,v=\(Self.serverSignatureEmptyUser)", false),
            ("v=not base64!", false),
            ("", false),
            ("x=1", false),
        ] {
            do throws(AuthenticationError) {
                try client.verifyServerFinal(Array(text.utf8))
                Issue.record("accepted server-final \"\(text)\"")
            } catch {
                if expectMismatch {
                    #expect(error == .serverSignatureMismatch, "\(text)")
                } else if case .invalidServerMessage = error {
                } else {
                    Issue.record("unexpected \(error) for \"\(text)\"")
                }
            }
        }
    }

    // MARK: SASLprep

    @Test("SASLprep maps spaces, drops mapped-to-nothing characters and applies NFKC")
    func saslPrep() {
        #expect(SCRAMClient.saslPrep("pencil") == "pencil")
        #expect(SCRAMClient.saslPrep("pen\u{00A0}cil") == "pen cil")
        #expect(SCRAMClient.saslPrep("pen\u{3000}cil") == "pen cil")
        #expect(SCRAMClient.saslPrep("pen\u{00AD}cil") == "pencil")
        #expect(SCRAMClient.saslPrep("pen\u{200B}cil\u{FEFF}") == "pencil")
        #expect(SCRAMClient.saslPrep("\u{FF50}\u{FF45}\u{FF4E}") == "pen")  // fullwidth
        #expect(SCRAMClient.saslPrep("\u{2168}") == "IX")  // ROMAN NUMERAL NINE
        #expect(SCRAMClient.saslPrep("e\u{0301}") == "\u{00E9}")
    }

    @Test("a password that SASLprep maps produces the same proof as its mapped form")
    func saslPrepAffectsProof() throws {
        var plain = SCRAMClient(password: "pencil", nonce: Self.clientNonce)
        var soft = SCRAMClient(password: "pen\u{00AD}cil", nonce: Self.clientNonce)
        _ = plain.clientFirstMessage()
        _ = soft.clientFirstMessage()
        let a = try plain.clientFinalMessage(serverFirst: Array(Self.serverFirst.utf8))
        let b = try soft.clientFinalMessage(serverFirst: Array(Self.serverFirst.utf8))
        #expect(a == b)
        #expect(Self.text(a) == "c=biws,r=\(Self.fullNonce),p=\(Self.proofEmptyUser)")
    }

    @Test("authentication error descriptions")
    func descriptions() {
        #expect(AuthenticationError.passwordRequired.description == "fe_sendauth: no password supplied")
        #expect(AuthenticationError.unsupportedMethod("SSPI").description.contains("SSPI"))
        #expect(AuthenticationError.noSupportedSASLMechanism(["A", "B"]).description.contains("A, B"))
    }
}
