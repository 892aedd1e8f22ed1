// The official admin UI (@socket.io/admin-ui 0.5.1's own page, served by `sockeye --admin-ui`
// at /admin/) in headless Chromium: log in, see the connected sockets and their rooms,
// disconnect one from the UI and see its client get the disconnect; wrong credentials are
// refused. Every request of the page outside 127.0.0.1 is refused, so the page must work from
// the server alone (its fonts too, when scripts/admin-ui.sh installed them).
//
// Needs target/debug/sockeye, Debian's chromium, e2e/node_modules (playwright-core,
// socket.io-client) and admin-ui/node_modules (scripts/admin-ui.sh). The screenshot goes to
// e2e/artifacts/admin-ui.png (and docs/admin-ui.png with UPDATE_SCREENSHOTS=1).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import path from "node:path";
import { launchChromium } from "../browser/chromium.mjs";
import { ADMIN_ENV, ADMIN_PASSWORD, ADMIN_USER, ART, ROOT, client, connected, nextEvent, startSockeye, waitFor } from "./lib.mjs";

let server;
let browser;
const users = [];
const outside = [];

before(async () => {
  server = await startSockeye("admin-ui", ["--no-client", "--admin-ui"], ADMIN_ENV);
  assert.match(server.proc.out.stdout, /its page at \/admin\//, "the binary found the UI's files");
  browser = await launchChromium();
});

after(async () => {
  for (const u of users) u.disconnect();
  await browser?.close();
  await server?.proc.stop();
});

/** A page that may only talk to the server under test. */
async function openPage() {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await page.route("**/*", (route) => {
    const u = new URL(route.request().url());
    if (u.hostname === "127.0.0.1") return route.continue();
    outside.push(u.href);
    return route.abort();
  });
  await page.goto(`${server.url}/admin/`);
  return page;
}

async function logIn(page, password) {
  await page.getByLabel("Server URL").fill(server.url);
  await page.getByLabel("Username").fill(ADMIN_USER);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Connect" }).click();
}

describe("the admin UI's own page, served by sockeye", () => {
  it("serves the page and its files, and redirects /admin to /admin/", async () => {
    const res = await fetch(`${server.url}/admin`, { redirect: "manual" });
    assert.equal(res.status, 308);
    assert.equal(res.headers.get("location"), "/admin/");
    const page = await fetch(`${server.url}/admin/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /Socket\.IO Admin UI/);
    assert.doesNotMatch(html, /fonts\.googleapis\.com|cdn\.jsdelivr\.net/, "fonts from this server");
    const escape = await fetch(`${server.url}/admin/..%2f..%2fCargo.toml`);
    assert.equal(escape.status, 404, "no way out of the UI's folder");
  });

  it("refuses wrong credentials", async () => {
    const page = await openPage();
    await logIn(page, "not-the-password");
    await page.getByText("invalid credentials").waitFor({ timeout: 10_000 });
    assert.ok(await page.getByRole("button", { name: "Connect" }).isVisible(), "the login form stays");
    await page.close();
  });

  it("logs in, lists the sockets and their rooms, and disconnects one", async () => {
    for (let i = 0; i < 3; i++) {
      const u = client(server.url, { transports: ["websocket"] });
      users.push(u);
      await connected(u);
    }
    const [a, b, c] = users;
    // A raw admin client puts two of them in a room, as the UI's own join command does.
    const helper = client(`${server.url}/admin`, { auth: { username: ADMIN_USER, password: ADMIN_PASSWORD } });
    await connected(helper);
    helper.emit("join", "/", "lobby", a.id);
    helper.emit("join", "/", "lobby", b.id);
    await nextEvent(helper, "room_joined", (n, r, id) => r === "lobby" && id === b.id);
    helper.disconnect();

    const page = await openPage();
    await logIn(page, ADMIN_PASSWORD);
    await page.getByRole("button", { name: "Connect" }).waitFor({ state: "hidden", timeout: 10_000 });

    await page.evaluate(() => (location.hash = "#/sockets/"));
    for (const u of users) {
      await page.locator("tbody tr", { hasText: u.id }).waitFor({ timeout: 10_000 });
    }
    await page.evaluate(() => (location.hash = "#/rooms/"));
    const lobby = page.locator("tbody tr", { hasText: "lobby" });
    await lobby.waitFor({ timeout: 10_000 });
    assert.match(await lobby.innerText(), /\b2\b/, "two sockets in the lobby");
    await page.waitForTimeout(2500); // a statistics tick for the dashboard's charts
    await page.evaluate(() => (location.hash = "#/sockets/"));
    await page.locator("tbody tr", { hasText: c.id }).waitFor();
    await page.waitForTimeout(800); // the page's slide transition
    await page.screenshot({ path: path.join(ART, "admin-ui.png"), clip: { x: 0, y: 0, width: 1280, height: 500 } });
    if (process.env.UPDATE_SCREENSHOTS === "1") {
      copyFileSync(path.join(ART, "admin-ui.png"), path.join(ROOT, "docs", "admin-ui.png"));
    }

    // The UI's disconnect button of c's row: c's client hears it. (The click also opens the
    // socket's page, where the UI then shows it disconnected.)
    const cId = c.id; // (the client forgets it once disconnected)
    const gone = new Promise((resolve) => c.once("disconnect", resolve));
    await page.locator("tbody tr", { hasText: cId }).getByRole("button").click();
    assert.equal(await gone, "io server disconnect");
    await page.getByRole("row", { name: "Status disconnected" }).first().waitFor({ timeout: 10_000 });
    assert.ok(a.connected && b.connected, "the others stay");
    await page.evaluate(() => (location.hash = "#/sockets/"));
    await page.locator("tbody tr", { hasText: a.id }).waitFor();
    await waitFor(async () => (await page.locator("tbody tr", { hasText: cId }).count()) === 0, "c's row gone");

    // A socket's page shows its rooms.
    await page.locator("tbody tr", { hasText: a.id }).locator("td").first().click();
    await page.getByText("lobby").first().waitFor({ timeout: 10_000 });
    await page.close();
    assert.deepEqual(outside.filter((u) => !u.startsWith("data:")), [], "nothing loaded from outside");
  });

  it("a client that connects later appears without reloading", async () => {
    const page = await openPage();
    await logIn(page, ADMIN_PASSWORD);
    await page.getByRole("button", { name: "Connect" }).waitFor({ state: "hidden", timeout: 10_000 });
    await page.evaluate(() => (location.hash = "#/sockets/"));
    const late = client(server.url);
    users.push(late);
    await connected(late);
    await page.locator("tbody tr", { hasText: late.id }).waitFor({ timeout: 10_000 });
    await waitFor(async () => /websocket/i.test(await page.locator("tbody tr", { hasText: late.id }).innerText()), "the upgrade shown", 8000);
    await page.close();
  });
});
