//! Portfolios in the shape of Deribit's `private/pme/simulate` exchange: `model_params`
//! (`currency_pair`, `currency`, `general`), `portfolio.position` (name → quantity),
//! `index_price`, `ticker` (name → `mark_price`, `index_price`, and for options
//! `mark_iv` in percent and `underlying_price`). A file may hold one case or several
//! under names (keys starting with `_` are notes).
//!
//! Order-related margins (MMP, open orders) depend on venue order state Keel does not
//! have: they are read from top-level `mmp_margin` / `open_orders_margin`, or else from
//! a Deribit response's `margins.<currency>.initial_margin_details` carried in the file.

use keel_engine::margin::{OrderMargins, PmContract, PmMarket, PmParams, PmPosition};
use serde_json::Value;
use thiserror::Error;

use super::instrument_name::{NamedContract, parse_name};

const YEAR_MS: f64 = 365.0 * 86_400_000.0;

#[derive(Debug, Error, PartialEq)]
pub enum PmeError {
    #[error("{0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> PmeError {
    PmeError::Invalid(message.into())
}

/// One portfolio, ready for `evaluate_portfolio`.
#[derive(Clone, Debug, PartialEq)]
pub struct PmeCase {
    /// Settlement currency, lower case ("btc").
    pub currency: String,
    /// Currency pair of the underlying ("btc_usd").
    pub pair: String,
    pub params: PmParams,
    pub index: f64,
    pub timestamp_ms: Option<i64>,
    /// Names in the file's order, with their positions.
    pub names: Vec<String>,
    pub positions: Vec<PmPosition>,
    pub orders: OrderMargins,
    /// Where the order margins came from.
    pub orders_source: &'static str,
}

impl PmeCase {
    /// The currency its margin is in: USDC portfolios in USD, with USD parameters as
    /// they are; coin portfolios in coin.
    pub fn settlement(&self) -> keel_engine::margin::PmSettlement {
        if self.currency == "usdc" {
            keel_engine::margin::PmSettlement::Quote
        } else {
            keel_engine::margin::PmSettlement::Coin
        }
    }
}

/// The cases in a parsed file: `(name, case)`, in file order.
pub fn parse_cases(file: &Value) -> Result<Vec<(String, PmeCase)>, PmeError> {
    let object = file
        .as_object()
        .ok_or_else(|| invalid("the portfolio file is not a JSON object"))?;
    if object.contains_key("portfolio") {
        return Ok(vec![("portfolio".into(), parse_case(file)?)]);
    }
    let mut cases = Vec::new();
    for (name, value) in object {
        if name.starts_with('_') {
            continue;
        }
        let case =
            parse_case(value).map_err(|PmeError::Invalid(e)| invalid(format!("{name}: {e}")))?;
        cases.push((name.clone(), case));
    }
    if cases.is_empty() {
        return Err(invalid(
            "no portfolio in the file (expected a \"portfolio\" key)",
        ));
    }
    Ok(cases)
}

fn number(value: &Value, path: &str) -> Result<f64, PmeError> {
    let number = value
        .pointer(path)
        .ok_or_else(|| invalid(format!("missing {path}")))?
        .as_f64()
        .ok_or_else(|| invalid(format!("{path} is not a number")))?;
    if number.is_finite() {
        Ok(number)
    } else {
        Err(invalid(format!("{path} is not finite")))
    }
}

/// One case.
pub fn parse_case(case: &Value) -> Result<PmeCase, PmeError> {
    let positions = case
        .pointer("/portfolio/position")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("missing portfolio.position (name → quantity)"))?;
    let timestamp_ms = case
        .pointer("/model_params/general/timestamp")
        .or_else(|| case.get("timestamp"))
        .and_then(Value::as_i64);
    let mut coin: Option<String> = None;
    let mut linear = false;
    let mut names = Vec::new();
    let mut parsed = Vec::new();
    for (name, quantity) in positions {
        let quantity = quantity
            .as_f64()
            .filter(|q| q.is_finite())
            .ok_or_else(|| invalid(format!("position {name}: quantity is not a number")))?;
        let named = parse_name(name)
            .ok_or_else(|| invalid(format!("{name}: not a Deribit instrument name")))?;
        match &coin {
            Some(c) if *c != named.coin || linear != named.linear => {
                return Err(invalid(format!(
                    "{name}: one settlement currency per portfolio (already {c})"
                )));
            }
            _ => {
                coin = Some(named.coin.clone());
                linear = named.linear;
            }
        }
        let years = |expiry_ms: i64| -> Result<f64, PmeError> {
            let now = timestamp_ms.ok_or_else(|| {
                invalid("dated instruments need model_params.general.timestamp (ms)")
            })?;
            Ok((expiry_ms - now) as f64 / YEAR_MS)
        };
        let ticker = format!("/ticker/{}", name.replace('~', "~0").replace('/', "~1"));
        let (contract, forward, vol) = match named.contract {
            NamedContract::Perpetual => (future(linear, 0.0), f64::NAN, f64::NAN),
            NamedContract::Future { expiry_ms } => {
                (future(linear, years(expiry_ms)?), f64::NAN, f64::NAN)
            }
            NamedContract::Option {
                expiry_ms,
                strike,
                kind,
            } => (
                PmContract::Option {
                    kind,
                    strike,
                    years: years(expiry_ms)?,
                    inverse: !linear,
                },
                number(case, &format!("{ticker}/underlying_price"))?,
                number(case, &format!("{ticker}/mark_iv"))? / 100.0,
            ),
        };
        names.push(name.clone());
        parsed.push((contract, quantity, forward, vol));
    }
    let coin = coin.ok_or_else(|| invalid("the portfolio holds no positions"))?;
    let currency = if linear {
        "usdc".to_string()
    } else {
        coin.to_ascii_lowercase()
    };
    let pair = format!("{}_usd", coin.to_ascii_lowercase());
    let index = number(case, &format!("/index_price/{pair}"))?;
    if index <= 0.0 {
        return Err(invalid(format!("index_price.{pair} must be positive")));
    }
    let params = params(case, &pair, &currency, &coin)?;
    let positions = parsed
        .into_iter()
        .map(|(contract, quantity, forward, vol)| PmPosition {
            contract,
            quantity,
            market: PmMarket {
                index,
                forward: if forward.is_nan() { index } else { forward },
                vol: if vol.is_nan() { 0.0 } else { vol },
            },
        })
        .collect();
    let (orders, orders_source) = order_margins(case, &currency)?;
    Ok(PmeCase {
        currency,
        pair,
        params,
        index,
        timestamp_ms,
        names,
        positions,
        orders,
        orders_source,
    })
}

fn future(linear: bool, years: f64) -> PmContract {
    if linear {
        PmContract::LinearFuture { years }
    } else {
        PmContract::InverseFuture { years }
    }
}

/// `model_params` when present (every field required), else Keel's built-in BTC or
/// ETH parameters.
fn params(case: &Value, pair: &str, currency: &str, coin: &str) -> Result<PmParams, PmeError> {
    if case.get("model_params").is_none() {
        return match coin {
            "BTC" => Ok(PmParams::BTC),
            "ETH" => Ok(PmParams::ETH),
            _ => Err(invalid(format!(
                "no model_params, and no built-in parameters for {coin}"
            ))),
        };
    }
    let p = |key: &str| number(case, &format!("/model_params/currency_pair/{pair}/{key}"));
    let c = |key: &str| number(case, &format!("/model_params/currency/{currency}/{key}"));
    let buckets = number(case, "/model_params/general/buckets_count")?;
    let vol_scenarios = number(case, "/model_params/general/vol_scenarios_count")?;
    if buckets != 4.0 || vol_scenarios != 3.0 {
        return Err(invalid(format!(
            "buckets_count {buckets} and vol_scenarios_count {vol_scenarios}: only Deribit's 4 and 3 are supported"
        )));
    }
    let params = PmParams {
        price_range: p("price_range")?,
        volatility_range_up: p("volatility_range_up")?,
        volatility_range_down: p("volatility_range_down")?,
        short_term_vega_power: p("short_term_vega_power")?,
        long_term_vega_power: p("long_term_vega_power")?,
        min_volatility_for_shock_up: p("min_volatility_for_shock_up")?,
        extended_table_factor: p("extended_table_factor")?,
        max_delta_shock: p("max_delta_shock")?,
        delta_total_liq_shock_threshold_usd: p("delta_total_liq_shock_threshold")?,
        m_inc: p("m_inc")?,
        pnl_offset: c("pnl_offset")?,
        max_offsetable_pnl_usd: c("max_offsetable_pnl")?,
        extended_dampener_usd: c("extended_dampener")?,
        min_annualised_move: c("min_annualised_move")?,
        annualised_move_risk: c("annualised_move_risk")?,
        mm_factor: number(case, "/model_params/general/mm_factor")?,
    };
    if params.is_valid() {
        Ok(params)
    } else {
        Err(invalid(
            "model_params out of their domain (negative, or a range ≥ 100 %)",
        ))
    }
}

fn order_margins(case: &Value, currency: &str) -> Result<(OrderMargins, &'static str), PmeError> {
    if case.get("mmp_margin").is_some() || case.get("open_orders_margin").is_some() {
        let optional = |path: &str| {
            if case.pointer(path).is_some() {
                number(case, path)
            } else {
                Ok(0.0)
            }
        };
        let orders = OrderMargins {
            mmp_margin: optional("/mmp_margin")?,
            open_orders_margin: optional("/open_orders_margin")?,
        };
        return Ok((orders, "the file's mmp_margin / open_orders_margin"));
    }
    let details = format!("/margins/{currency}/initial_margin_details");
    if case.pointer(&details).is_some() {
        let orders = OrderMargins {
            mmp_margin: number(case, &format!("{details}/mmp_margin"))?,
            open_orders_margin: number(case, &format!("{details}/open_orders_margin"))?,
        };
        return Ok((orders, "the Deribit response in the file"));
    }
    Ok((OrderMargins::default(), "none (no open orders, no MMP)"))
}
