// Launches Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) headless through playwright-core,
// with the flags this machine needs: no sandbox as root, and no background networking (its
// connections would be refused by the closed network).
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
  });
}

/**
 * A new page of `browser` at `${origin}/__${name}__/page.html` that loads the script `bundle`
 * (its bytes, served as `/__${name}__/${file}`), nothing else: a client bundle on the origin
 * the tests connect to, without a server of its own. Close the page when done.
 */
export async function pageWithBundle(browser, origin, name, file, bundle) {
  const page = await browser.newPage();
  const dir = `${origin}/__${name}__`;
  await page.route(`${dir}/**`, (route) => {
    const u = route.request().url();
    if (u === `${dir}/page.html`) {
      return route.fulfill({
        status: 200,
        contentType: "text/html",
        body: `<!DOCTYPE html><html><head><meta charset="utf-8"><script src="/__${name}__/${file}"></script></head><body>${name}</body></html>`,
      });
    }
    if (u === `${dir}/${file}`) {
      return route.fulfill({ status: 200, contentType: "application/javascript", body: bundle });
    }
    return route.fulfill({ status: 404, body: "not found" });
  });
  await page.goto(`${dir}/page.html`);
  return page;
}
