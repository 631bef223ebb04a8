//! The SMS code login: the slider puzzle (steps 3'–4'), sending the code (5'), and trading
//! the code for the cookie (6'–7', then 8).

use base64::Engine;
use serde_json::{json, Value};

use super::http::{step_error, Send};
use super::steps::{check_code, json_reply, refused, text};
use super::Login;
use crate::error::{Error, Result};
use crate::log;
use crate::upstream::CancelToken;

const STEP3: &str = "step 3' (GET /idp/captcha/checkOpen)";
const STEP4: &str = "step 4' (GET /idp/captcha/getBlockPuzzle)";
const STEP5: &str = "step 5' (POST /idp/authn/sendSmsMsg)";
const STEP6: &str = "step 6' (POST /idp/authn/authExecute)";
const STEP7: &str = "step 7' (POST /idp/authCenter/authnEngine)";

/// Puzzles tried when the library solves them itself and the SSO refuses an answer.
const AUTO_PUZZLES: usize = 3;
/// The public client sends the matched x minus this (and y = 5).
const X_SHIFT: i64 = 5;

pub(crate) struct Puzzle {
    token: String,
    pub background: Vec<u8>,
    pub piece: Vec<u8>,
}

impl Login {
    /// Fetches a new slider puzzle (steps 1–2 first if needed, then 3'–4').
    pub fn sms_puzzle(&mut self, token: &CancelToken) -> Result<()> {
        self.sms_puzzle_inner(token).map_err(|e| self.redact(e))
    }

    fn sms_puzzle_inner(&mut self, token: &CancelToken) -> Result<()> {
        self.context(token)?;
        self.method(STEP3, "userAndSms")?;
        let open =
            self.send(STEP3, "GET", &format!("{}/idp/captcha/checkOpen?type=sms", self.sso), Send::Nothing, token)?;
        if open.status != 200 {
            let mut e = step_error(STEP3, format!("SMS login is not available now (HTTP {})", open.status));
            e.http_status = Some(open.status);
            return Err(e);
        }
        let page =
            self.send(STEP4, "GET", &format!("{}/idp/captcha/getBlockPuzzle", self.sso), Send::Nothing, token)?;
        let reply = json_reply(STEP4, &page)?;
        let data = reply.get("data").cloned().unwrap_or(Value::Null);
        let image = |name: &str| -> Result<Vec<u8>> {
            let b64 = data
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| step_error(STEP4, format!("the reply has no data.{name}")))?;
            // Some servers prefix a data URL.
            let b64 = b64.rsplit_once(',').map_or(b64, |(_, b)| b);
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| step_error(STEP4, format!("data.{name} is not base64 ({e})")))
        };
        let (background, piece) = (image("originalImageBase64")?, image("jigsawImageBase64")?);
        let puzzle_token = data.get("token").and_then(text).filter(|t| !t.is_empty());
        let puzzle_token = puzzle_token.ok_or_else(|| step_error(STEP4, "the reply has no data.token"))?;
        self.secret(&puzzle_token);
        self.puzzle = Some(Puzzle { token: puzzle_token, background, piece });
        log::login_step(STEP4);
        Ok(())
    }

    pub fn puzzle_images(&self) -> Option<(&[u8], &[u8])> {
        self.puzzle.as_ref().map(|p| (p.background.as_slice(), p.piece.as_slice()))
    }

    /// The library's answer to the current puzzle: the piece's x offset in the background.
    pub fn puzzle_solve(&self) -> Result<u32> {
        let p = self.puzzle.as_ref().ok_or_else(|| Error::invalid_argument("no slider puzzle yet: fetch one first"))?;
        super::puzzle::solve(&p.background, &p.piece)
    }

    /// Sends an SMS code to `phone` (step 5'). `x` answers the current puzzle; `None` lets the
    /// library fetch and solve puzzles itself (up to 3 when the SSO refuses an answer). A failed
    /// send leaves an earlier code (to the earlier phone) usable.
    pub fn sms_send(&mut self, phone: &str, x: Option<u32>, token: &CancelToken) -> Result<()> {
        check_phone(phone)?;
        self.secret(phone);
        let result = match x {
            Some(x) => self.send_code(phone, x, token),
            None => self.send_code_solving(phone, token),
        };
        result.map_err(|e| self.redact(e))?;
        self.phone = Some(phone.to_string());
        Ok(())
    }

    fn send_code_solving(&mut self, phone: &str, token: &CancelToken) -> Result<()> {
        let mut last = None;
        for _ in 0..AUTO_PUZZLES {
            self.sms_puzzle_inner(token)?;
            let x = self.puzzle_solve()?;
            match self.send_code(phone, x, token) {
                Err(e) if e.api_code == Some(5054) => last = Some(e),
                other => return other,
            }
        }
        Err(last.expect("at least one try"))
    }

    fn send_code(&mut self, phone: &str, x: u32, token: &CancelToken) -> Result<()> {
        // The SSO takes one answer per puzzle, right or wrong.
        let puzzle =
            self.puzzle.take().ok_or_else(|| Error::invalid_argument("no slider puzzle yet: fetch one first"))?;
        let lck = self.context.as_ref().expect("a puzzle comes after the context").lck.clone();
        let point = json!({ "x": i64::from(x) - X_SHIFT, "y": 5 }).to_string();
        let body = json!({ "loginName": phone, "pointJson": point, "token": puzzle.token, "lck": lck });
        let reply = self.send_json(STEP5, &format!("{}/idp/authn/sendSmsMsg", self.sso), &body, token)?;
        let inner = reply.get("data").filter(|d| d.get("code").is_some());
        match inner {
            Some(data) => match data.get("code").and_then(text).as_deref() {
                Some("200") => {}
                Some(code) => {
                    let mut e = refused(STEP5, code, data);
                    e.message.push_str(match code {
                        "5054" => ": the slider puzzle answer was wrong; fetch a new puzzle",
                        "201" => ": a code was sent to this number moments ago; wait a minute",
                        _ => "",
                    });
                    return Err(e);
                }
                None => return Err(step_error(STEP5, "data.code is not a string or number")),
            },
            None => {
                check_code(STEP5, &reply)?;
                return Err(step_error(STEP5, "the reply has no data.code"));
            }
        }
        log::login_step(STEP5);
        Ok(())
    }

    /// Trades the SMS code for the cookie (steps 6', 7', 8).
    pub fn sms_submit(&mut self, code: &str, token: &CancelToken) -> Result<()> {
        if code.is_empty() || code.len() > 16 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::invalid_argument("the SMS code must be 1 to 16 letters or digits"));
        }
        let Some(phone) = self.phone.clone() else {
            return Err(Error::invalid_argument("no SMS code was sent yet: send one first"));
        };
        self.secret(code);
        self.sms_submit_inner(&phone, code, token).map_err(|e| self.redact(e))
    }

    fn sms_submit_inner(&mut self, phone: &str, code: &str, token: &CancelToken) -> Result<()> {
        let chain = self.method(STEP6, "userAndSms")?;
        let context = self.context.as_ref().expect("a code comes after the context");
        let body = json!({
            "authModuleCode": "userAndSms",
            "authChainCode": chain,
            "entityId": context.entity_id,
            "requestType": "chain_type",
            "lck": context.lck,
            "authPara": { "loginName": phone, "smsCode": code, "verifyCode": "" },
        });
        let reply = self.send_json(STEP6, &format!("{}/idp/authn/authExecute", self.sso), &body, token)?;
        check_code(STEP6, &reply)?;
        let login_token = reply.get("loginToken").or_else(|| reply.pointer("/data/loginToken")).and_then(Value::as_str);
        let login_token =
            login_token.filter(|t| !t.is_empty()).ok_or_else(|| step_error(STEP6, "the reply has no loginToken"))?;
        let login_token = login_token.to_string();
        self.secret(&login_token);
        let url = format!("{}/idp/authCenter/authnEngine?locale=zh-CN", self.sso);
        let form = [("loginToken", login_token.as_str())];
        let page = self.http.follow("POST", &url, Send::Form(&form), token).map_err(|e| self.in_step(STEP7, e))?;
        self.finish(STEP7, page, token)
    }
}

/// A mainland mobile number: 11 digits starting with 1 (what the SSO's form accepts).
fn check_phone(phone: &str) -> Result<()> {
    if phone.len() == 11 && phone.starts_with('1') && phone.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        // The value is not echoed: a phone number is personal.
        Err(Error::invalid_argument("the phone number must be 11 digits starting with 1"))
    }
}
