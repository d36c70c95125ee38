//! What a request asks for: the markers in its last user message and the answer they produce.

use std::time::Duration;

use crate::config::Config;

/// Every marker the fake upstream understands.
const MARKERS: [&str; 11] = [
    "[[no-usage]]",
    "[[slow]]",
    "[[429]]",
    "[[500]]",
    "[[cut]]",
    "[[malformed]]",
    "[[hang]]",
    "[[long]]",
    "[[markdown]]",
    "[[hostile]]",
    "[[echo]]",
];

/// Tokens of a `[[cut]]` or `[[malformed]]` answer sent before the misbehaviour.
pub(crate) const TOKENS_BEFORE_TROUBLE: usize = 3;

/// The misbehaviour requested by one chat request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scenario {
    pub slow: bool,
    /// `[[429]]` or `[[500]]`: answer with this status instead of an answer.
    pub fail: Option<u16>,
    pub cut: bool,
    pub malformed: bool,
    pub hang: bool,
    pub long: bool,
    pub markdown: bool,
    pub hostile: bool,
    pub echo: bool,
    /// `[[no-usage]]`: no usage chunk (OpenAI) or metadata frame (Bedrock), as some servers do.
    pub no_usage: bool,
    /// The last user message without its markers, for `[[echo]]`.
    pub user_text: String,
}

impl Scenario {
    pub(crate) fn from_last_user_message(text: &str) -> Self {
        let has = |marker: &str| text.contains(marker);
        let fail = if has("[[429]]") {
            Some(429)
        } else if has("[[500]]") {
            Some(500)
        } else {
            None
        };
        let mut user_text = text.to_owned();
        for marker in MARKERS {
            user_text = user_text.replace(marker, "");
        }
        Self {
            slow: has("[[slow]]"),
            fail,
            cut: has("[[cut]]"),
            malformed: has("[[malformed]]"),
            hang: has("[[hang]]"),
            long: has("[[long]]"),
            markdown: has("[[markdown]]"),
            hostile: has("[[hostile]]"),
            echo: has("[[echo]]"),
            no_usage: has("[[no-usage]]"),
            user_text: user_text.trim().to_owned(),
        }
    }

    /// The answer's tokens (their concatenation is the answer text).
    pub(crate) fn tokens(&self, config: &Config) -> Vec<String> {
        if self.echo {
            split_tokens(&self.user_text)
        } else if self.markdown {
            split_tokens(MARKDOWN_ANSWER)
        } else if self.hostile {
            split_tokens(HOSTILE_ANSWER)
        } else if self.long {
            default_tokens(config.long_tokens)
        } else {
            default_tokens(config.tokens)
        }
    }

    /// Pause before each token after the first.
    pub(crate) fn token_delay(&self, config: &Config) -> Duration {
        if self.long {
            config.long_delay()
        } else {
            config.token_delay()
        }
    }

    /// Pause before the first token.
    pub(crate) fn first_token_delay(&self, config: &Config) -> Duration {
        if self.slow {
            config.slow()
        } else {
            config.first_token_delay()
        }
    }
}

/// Splits text into word-sized tokens that concatenate back to the exact text.
fn split_tokens(text: &str) -> Vec<String> {
    text.split_inclusive(char::is_whitespace)
        .map(str::to_owned)
        .collect()
}

const WORDS: [&str; 16] = [
    "Greenlight",
    "ships",
    "a",
    "new",
    "version",
    "beside",
    "the",
    "old",
    "one,",
    "tests",
    "it",
    "on",
    "a",
    "private",
    "listener,",
    "then",
];

/// `count` deterministic tokens: the same count always gives the same text.
fn default_tokens(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let word = WORDS[i % WORDS.len()];
            if i == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            }
        })
        .collect()
}

const MARKDOWN_ANSWER: &str = "## Blue/green in short\n\n\
Greenlight deploys in **three** steps:\n\n\
1. Start the *green* task set.\n\
2. Run the smoke checks on the test listener.\n\
3. Shift traffic, see [the docs](https://example.com/docs).\n\n\
| step | listener |\n\
| --- | --- |\n\
| test | 8080 |\n\
| production | 443 |\n\n\
Check it with `greenlight smoke`:\n\n\
```bash\n\
greenlight smoke --url http://localhost:8080\n\
echo \"<b>not bold</b>\"\n\
```\n\n\
- done\n";

const HOSTILE_ANSWER: &str = "Here is some hostile markup.\n\n\
<script>window.__xss = 'script';</script>\n\
<img src=\"x\" onerror=\"window.__xss='img-onerror'\">\n\
<a href=\"javascript:window.__xss='a-href'\" onclick=\"window.__xss='a-onclick'\">click me</a>\n\
[markdown link](javascript:window.__xss='md-link')\n\
[data link](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9J2RhdGEnPC9zY3JpcHQ+)\n\
![image](javascript:window.__xss='md-img')\n\
<svg onload=\"window.__xss='svg-onload'\"><circle r=\"1\"/></svg>\n\
<iframe src=\"javascript:window.__xss='iframe'\"></iframe>\n\
<iframe srcdoc=\"<script>parent.__xss='srcdoc'</script>\"></iframe>\n\
<object data=\"data:text/html,<script>window.__xss='object'</script>\"></object>\n\
<div style=\"background:url(javascript:window.__xss='style')\" onmouseover=\"window.__xss='div'\">hover</div>\n\
<form action=\"javascript:window.__xss='form'\"><button>go</button></form>\n\
<details open ontoggle=\"window.__xss='details'\"><summary>x</summary></details>\n\
\"><script>window.__xss='attr-break'</script>\n\
End of hostile markup.\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_found_and_stripped_for_echo() {
        let s = Scenario::from_last_user_message("[[echo]] hello [[slow]] <b>x</b>");
        assert!(s.echo && s.slow && !s.cut);
        assert_eq!(s.user_text, "hello  <b>x</b>");
        assert_eq!(s.tokens(&Config::default()).concat(), "hello  <b>x</b>");
    }

    #[test]
    fn default_answer_is_deterministic_and_has_the_configured_length() {
        let config = Config {
            tokens: 7,
            ..Config::default()
        };
        let s = Scenario::from_last_user_message("hi");
        assert_eq!(s.tokens(&config).len(), 7);
        assert_eq!(s.tokens(&config), s.tokens(&config));
        assert_eq!(s.fail, None);
    }

    #[test]
    fn first_token_delay_applies_to_every_answer_and_slow_wins() {
        let config = Config {
            first_token_delay_ms: 1500,
            slow_ms: 3000,
            ..Config::default()
        };
        let plain = Scenario::from_last_user_message("hi");
        assert_eq!(
            plain.first_token_delay(&config),
            Duration::from_millis(1500)
        );
        let slow = Scenario::from_last_user_message("hi [[slow]]");
        assert_eq!(slow.first_token_delay(&config), Duration::from_millis(3000));
        assert_eq!(
            plain.first_token_delay(&Config::default()),
            Duration::ZERO,
            "no delay unless asked"
        );
    }

    #[test]
    fn status_markers() {
        assert_eq!(Scenario::from_last_user_message("[[429]]").fail, Some(429));
        assert_eq!(
            Scenario::from_last_user_message("x [[500]]").fail,
            Some(500)
        );
    }

    #[test]
    fn fixed_answers_round_trip_through_tokens() {
        let md = Scenario::from_last_user_message("[[markdown]]");
        assert_eq!(md.tokens(&Config::default()).concat(), MARKDOWN_ANSWER);
        let hostile = Scenario::from_last_user_message("[[hostile]]");
        let text = hostile.tokens(&Config::default()).concat();
        for needle in [
            "<script>",
            "onerror=",
            "javascript:",
            "<svg onload",
            "<iframe",
            "data:",
        ] {
            assert!(text.contains(needle), "{needle}");
        }
    }
}
