/// Where the comparison's server listens (trust authentication).
struct ServerTarget: Sendable {
    var host: String
    var port: Int
    var user: String
}
