//! Our conversation in Converse's shape: system prompts apart, strictly alternating user and
//! assistant turns that start with the user.

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, Message as ConverseMessage, SystemContentBlock,
};

use crate::provider::{Message, ProviderError, Role};

/// The `system` blocks and `messages` of a Converse request.
pub(super) fn to_converse(
    messages: &[Message],
) -> Result<(Vec<SystemContentBlock>, Vec<ConverseMessage>), ProviderError> {
    let system = messages
        .iter()
        .filter(|m| m.role == Role::System && !m.content.trim().is_empty())
        .map(|m| SystemContentBlock::Text(m.content.clone()))
        .collect();

    // Converse rejects two turns of the same role in a row: merge them.
    let mut turns: Vec<(ConversationRole, String)> = Vec::new();
    for message in messages {
        let role = match message.role {
            Role::System => continue,
            Role::User => ConversationRole::User,
            Role::Assistant => ConversationRole::Assistant,
        };
        if message.content.trim().is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, text)) if *last == role => {
                text.push_str("\n\n");
                text.push_str(&message.content);
            }
            _ => turns.push((role, message.content.clone())),
        }
    }
    // Converse wants the user to speak first; an opening assistant turn (a greeting) carries no
    // question, so it is dropped.
    if turns
        .first()
        .is_some_and(|(role, _)| *role == ConversationRole::Assistant)
    {
        turns.remove(0);
    }
    if turns.is_empty() {
        return Err(ProviderError::Misconfigured(
            "the conversation has no user message".to_owned(),
        ));
    }
    let messages = turns
        .into_iter()
        .map(|(role, text)| {
            ConverseMessage::builder()
                .role(role)
                .content(ContentBlock::Text(text))
                .build()
                .map_err(|e| ProviderError::Misconfigured(format!("Converse message: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok((system, messages))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: Role, content: &str) -> Message {
        Message {
            role,
            content: content.to_owned(),
        }
    }

    fn text(message: &ConverseMessage) -> &str {
        match message.content().first() {
            Some(ContentBlock::Text(text)) => text,
            _ => "",
        }
    }

    #[test]
    fn system_apart_and_same_roles_merged() {
        let (system, turns) = to_converse(&[
            message(Role::System, "be brief"),
            message(Role::Assistant, "Hi! Ask me anything."),
            message(Role::User, "one"),
            message(Role::User, "two"),
            message(Role::Assistant, "answer"),
            message(Role::User, "three"),
        ])
        .unwrap_or_default();
        assert_eq!(
            system,
            vec![SystemContentBlock::Text("be brief".to_owned())]
        );
        assert_eq!(turns.len(), 3);
        assert_eq!(*turns[0].role(), ConversationRole::User);
        assert_eq!(text(&turns[0]), "one\n\ntwo");
        assert_eq!(*turns[1].role(), ConversationRole::Assistant);
        assert_eq!(text(&turns[2]), "three");
    }

    #[test]
    fn no_user_turn_is_an_error() {
        assert!(to_converse(&[message(Role::System, "x")]).is_err());
    }
}
