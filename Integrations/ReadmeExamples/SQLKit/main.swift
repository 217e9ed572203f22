import PostgresWireSQLKit   // re-exports PostgresWire and SQLKit

// A whole main.swift in a package that depends on the product PostgresWireSQLKit; it writes the
// table `planets` of the setup.
let pool = try AsyncConnectionPool("")   // "" : PG* variables, ~/.pgpass, libpq's defaults
let sql = pool.sql()
struct Planet: Codable { var id: Int?; var name: String }
// Top-level code would pick the EventLoopFuture overloads: the annotations choose async/await.
let _: Void = try await sql.insert(into: "planets").model(Planet(name: "Earth")).run()
let planets: [Planet] = try await sql.select().column("*").from("planets").all(decoding: Planet.self)
for planet in planets { print(planet.name) }   // Earth
await pool.close()
