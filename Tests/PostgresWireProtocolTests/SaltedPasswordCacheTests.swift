import Testing
@testable import PostgresWireProtocol

/// SCRAM's salted password is derived once per (password, salt, iteration count) and reused.
struct SaltedPasswordCacheTests {
    @Test func returnsWhatPBKDF2Gives() {
        let cache = SaltedPasswordCache(capacity: 2)
        let password = Array("pencil".utf8), salt: [UInt8] = [1, 2, 3, 4]
        let expected = Crypto.pbkdf2SHA256(password: password, salt: salt, iterations: 16)
        #expect(cache.saltedPassword(password: password, salt: salt, iterations: 16) == expected)
        #expect(cache.saltedPassword(password: password, salt: salt, iterations: 16) == expected)
    }

    @Test func keyedByPasswordSaltAndIterations() {
        let cache = SaltedPasswordCache(capacity: 4)
        let a = cache.saltedPassword(password: Array("a".utf8), salt: [1], iterations: 8)
        #expect(cache.saltedPassword(password: Array("b".utf8), salt: [1], iterations: 8) != a)
        #expect(cache.saltedPassword(password: Array("a".utf8), salt: [2], iterations: 8) != a)
        #expect(cache.saltedPassword(password: Array("a".utf8), salt: [1], iterations: 9) != a)
        #expect(cache.saltedPassword(password: Array("a".utf8), salt: [1], iterations: 8) == a)
    }

    @Test func boundedEvictingTheOldest() {
        let cache = SaltedPasswordCache(capacity: 2)
        for i in 0..<5 {
            let salt = [UInt8(i)]
            #expect(cache.saltedPassword(password: [1], salt: salt, iterations: 4)
                == Crypto.pbkdf2SHA256(password: [1], salt: salt, iterations: 4))
        }
        #expect(cache.count == 2)
    }
}
