package store

// laterMigrations are schema steps added by features after the first schema
// (OAuth, JWT keys); each is applied once, in order.
var laterMigrations = []string{}
