// The visitor's first login in the browser, shared by the visitor tests.
import assert from "node:assert/strict";
import { currentStep, totpAt } from "./totp.mjs";

/**
 * Password, then the second factor enrolled on the page (the code computed here from the shown
 * secret), the recovery codes, then the device PIN; resolves on the list of cases. `errors()`
 * (the browsers' collected errors) is shown if the second factor fails.
 */
export async function visitorLogsIn(page, baseUrl, user, errors = () => []) {
  await page.goto(`${baseUrl}/visitor`);
  await page.getByLabel("ログイン名").fill(user.login, { timeout: 20_000 });
  await page.getByLabel("パスワード").fill(user.password);
  await page.getByRole("button", { name: "ログイン" }).click();
  await page.getByRole("heading", { name: "二段階認証" }).waitFor();
  const secret = (await page.locator(".mfa-secret").textContent()).trim();
  await page.getByLabel("確認コード").fill(totpAt(secret, currentStep()));
  await page.getByRole("button", { name: "確認" }).click();
  await page.getByRole("heading", { name: "回復コード" }).waitFor().catch(async (error) => {
    throw new Error(`${error.message}\npage: ${await page.locator("body").innerText()}\n${errors().join("\n")}`);
  });
  assert.equal(await page.locator(".recovery-codes li").count(), 10);
  await page.getByRole("button", { name: "保管しました" }).click();
  await page.getByRole("heading", { name: "この端末のPINを設定" }).waitFor();
  await page.getByLabel("PIN", { exact: true }).fill(user.pin);
  await page.getByLabel("PIN（確認）").fill(user.pin);
  await page.getByRole("button", { name: "設定する" }).click();
  await page.getByRole("heading", { name: "担当の事例" }).waitFor({ timeout: 30_000 });
}
