// Reads a JSON array of cases on stdin and answers with a JSON array on
// stdout. A case {"op":"verify","secret","headers","body"} answers "ok" or the
// verifier's error; {"op":"sign","secret","id","timestamp","body"} answers the
// webhook-signature value. Uses the standardwebhooks npm package, not our code.
const { Webhook } = require("standardwebhooks");
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((c) => {
    try {
      const wh = new Webhook(c.secret);
      if (c.op === "sign") {
        return wh.sign(c.id, new Date(c.timestamp * 1000), c.body);
      }
      wh.verify(c.body, c.headers);
      return "ok";
    } catch (e) {
      return "error: " + e.message;
    }
  });
  process.stdout.write(JSON.stringify(out));
});
