/**
 * The concrete-syntax parser (Chevrotain CstParser). Rules are class fields;
 * `performSelfAnalysis()` runs last. Error recovery is on so that one run
 * reports several syntax errors.
 */
import { CstParser } from "chevrotain";
import * as T from "./lexer.ts";

export class TemplateParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: "onlyOffset" });
    this.performSelfAnalysis();
  }

  file = this.RULE("file", () => {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.header) },
        { ALT: () => this.SUBRULE(this.inputDecl) },
        { ALT: () => this.SUBRULE(this.linkBlock) },
        { ALT: () => this.SUBRULE(this.stepDecl) },
        { ALT: () => this.SUBRULE(this.ruleDecl) },
        { ALT: () => this.SUBRULE(this.handlerDecl) },
      ]);
    });
  });

  header = this.RULE("header", () => {
    this.CONSUME(T.Template);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.StringLit);
    this.CONSUME(T.Version);
    this.CONSUME(T.NumberLit);
  });

  /** `input amount: money(USD) optional default 250.00 USD "description"` */
  inputDecl = this.RULE("inputDecl", () => {
    this.CONSUME(T.Input);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.CONSUME2(T.Identifier, { LABEL: "type" });
    this.OPTION(() => {
      this.CONSUME(T.LParen);
      this.SUBRULE(this.identList, { LABEL: "typeArgs" });
      this.CONSUME(T.RParen);
    });
    this.OPTION2(() => this.CONSUME(T.Optional));
    this.OPTION3(() => {
      this.CONSUME(T.Default);
      this.SUBRULE(this.expression, { LABEL: "default" });
    });
    this.OPTION4(() => this.CONSUME(T.StringLit, { LABEL: "description" }));
  });

  identList = this.RULE("identList", () => {
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME(T.Identifier) });
  });

  linkBlock = this.RULE("linkBlock", () => {
    this.CONSUME(T.Link);
    this.CONSUME(T.LBrace);
    this.MANY(() => {
      this.SUBRULE(this.linkStmt);
      this.OPTION(() => this.CONSUME(T.Semicolon));
    });
    this.CONSUME(T.RBrace);
  });

  linkStmt = this.RULE("linkStmt", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Send);
          this.CONSUME(T.Via);
          this.CONSUME(T.Identifier, { LABEL: "channel" });
          this.MANY(() => {
            this.OR2([{ ALT: () => this.CONSUME(T.And) }, { ALT: () => this.CONSUME(T.Comma) }]);
            this.CONSUME2(T.Identifier, { LABEL: "channel" });
          });
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Expires);
          this.CONSUME(T.In);
          this.CONSUME(T.DurationLit, { LABEL: "expires" });
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Remind);
          this.OR3([
            {
              ALT: () => {
                this.CONSUME(T.Every);
                this.CONSUME2(T.DurationLit, { LABEL: "every" });
              },
            },
            {
              ALT: () => {
                this.AT_LEAST_ONE_SEP({
                  SEP: T.Comma,
                  DEF: () => this.CONSUME3(T.DurationLit, { LABEL: "before" }),
                });
                this.CONSUME(T.Before);
                this.CONSUME(T.Expiry);
              },
            },
            {
              ALT: () => {
                this.CONSUME(T.At);
                this.CONSUME(T.Most);
                this.CONSUME(T.NumberLit, { LABEL: "maxCount" });
                this.CONSUME(T.Times);
              },
            },
          ]);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Verify);
          this.CONSUME(T.With);
          this.OPTION(() => this.CONSUME(T.OneTime));
          this.CONSUME(T.Code);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Single);
          this.CONSUME(T.Use);
        },
      },
      { ALT: () => this.CONSUME(T.Reusable) },
    ]);
  });

  stepDecl = this.RULE("stepDecl", () => {
    this.CONSUME(T.Step);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.StringLit);
    this.OPTION(() => {
      this.CONSUME(T.When);
      this.SUBRULE(this.expression, { LABEL: "when" });
    });
    this.CONSUME(T.LBrace);
    this.MANY(() => {
      this.SUBRULE(this.stepStmt);
      this.OPTION2(() => this.CONSUME(T.Semicolon));
    });
    this.CONSUME(T.RBrace);
  });

  stepStmt = this.RULE("stepStmt", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.collectStmt) },
      { ALT: () => this.SUBRULE(this.lookupStmt) },
      { ALT: () => this.SUBRULE(this.acceptStmt) },
      { ALT: () => this.SUBRULE(this.uploadStmt) },
      { ALT: () => this.SUBRULE(this.verifyStmt) },
      { ALT: () => this.SUBRULE(this.confirmStmt) },
      { ALT: () => this.SUBRULE(this.declineStmt) },
    ]);
  });

  collectStmt = this.RULE("collectStmt", () => {
    this.CONSUME(T.Collect);
    this.OR([
      {
        ALT: () => {
          this.OR2([{ ALT: () => this.CONSUME(T.Individual) }, { ALT: () => this.CONSUME(T.Business) }]);
          this.CONSUME(T.LBrace);
          this.MANY_SEP({ SEP: T.Semicolon, DEF: () => this.SUBRULE(this.fieldGroup) });
          this.CONSUME(T.RBrace);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.FinancialAccount);
          this.CONSUME2(T.LBrace);
          this.MANY_SEP2({ SEP: T.Semicolon, DEF: () => this.SUBRULE(this.accountClause) });
          this.CONSUME2(T.RBrace);
        },
      },
    ]);
  });

  fieldGroup = this.RULE("fieldGroup", () => {
    this.SUBRULE(this.identList);
    this.OR([{ ALT: () => this.CONSUME(T.Required) }, { ALT: () => this.CONSUME(T.Optional) }]);
  });

  /** `bank_account(checking, savings) or debit_card` | `via manual or waterfall(plaid, finicity)` */
  accountClause = this.RULE("accountClause", () => {
    this.OPTION(() => this.CONSUME(T.Via));
    this.AT_LEAST_ONE_SEP({ SEP: T.Or, DEF: () => this.SUBRULE(this.choice) });
  });

  choice = this.RULE("choice", () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.LParen);
      this.SUBRULE(this.identList);
      this.CONSUME(T.RParen);
    });
  });

  lookupStmt = this.RULE("lookupStmt", () => {
    this.CONSUME(T.Lookup);
    this.CONSUME(T.Customer);
    this.CONSUME(T.By);
    this.AT_LEAST_ONE_SEP({
      SEP: T.Or,
      DEF: () => this.CONSUME(T.Identifier),
    });
  });

  acceptStmt = this.RULE("acceptStmt", () => {
    this.CONSUME(T.Accept);
    this.CONSUME(T.StringLit, { LABEL: "doc" });
    this.OPTION(() => {
      this.CONSUME(T.Version);
      this.CONSUME2(T.StringLit, { LABEL: "version" });
    });
    this.OPTION2(() => {
      this.CONSUME(T.Titled);
      this.CONSUME3(T.StringLit, { LABEL: "title" });
    });
    this.OPTION3(() => {
      this.CONSUME(T.Reading);
      this.CONSUME4(T.StringLit, { LABEL: "text" });
    });
  });

  uploadStmt = this.RULE("uploadStmt", () => {
    this.CONSUME(T.Upload);
    this.SUBRULE(this.identList);
    this.OPTION(() => {
      this.CONSUME(T.LBrace);
      this.MANY(() => {
        this.SUBRULE(this.uploadClause);
        this.OPTION2(() => this.CONSUME(T.Semicolon));
      });
      this.CONSUME(T.RBrace);
    });
  });

  uploadClause = this.RULE("uploadClause", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Count);
          this.CONSUME(T.NumberLit, { LABEL: "min" });
          this.OPTION(() => {
            this.CONSUME(T.To);
            this.CONSUME2(T.NumberLit, { LABEL: "max" });
          });
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Max);
          this.CONSUME(T.Size);
          this.CONSUME(T.SizeLit);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Types);
          this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME(T.StringLit) });
        },
      },
    ]);
  });

  verifyStmt = this.RULE("verifyStmt", () => {
    this.CONSUME(T.Verify);
    this.CONSUME(T.Identity);
    this.OPTION(() => {
      this.CONSUME(T.Using);
      this.SUBRULE(this.identList);
    });
  });

  /** `confirm send input.amount to bank method push_to_card when … otherwise ach_credit authorized by "ach-debit-authorization"` */
  confirmStmt = this.RULE("confirmStmt", () => {
    this.CONSUME(T.Confirm);
    this.OR([{ ALT: () => this.CONSUME(T.Send) }, { ALT: () => this.CONSUME(T.Request) }]);
    this.SUBRULE(this.expression, { LABEL: "amount" });
    this.OR2([{ ALT: () => this.CONSUME(T.To) }, { ALT: () => this.CONSUME(T.From) }]);
    this.CONSUME(T.Identifier, { LABEL: "account" });
    this.OPTION(() => {
      this.CONSUME(T.Method);
      this.CONSUME2(T.Identifier, { LABEL: "method" });
      this.MANY(() => {
        this.CONSUME(T.When);
        this.SUBRULE2(this.expression, { LABEL: "methodWhen" });
        this.CONSUME(T.Otherwise);
        this.CONSUME3(T.Identifier, { LABEL: "method" });
      });
    });
    this.OPTION2(() => {
      this.CONSUME(T.Authorized);
      this.CONSUME(T.By);
      this.CONSUME(T.StringLit, { LABEL: "authorization" });
    });
  });

  declineStmt = this.RULE("declineStmt", () => {
    this.CONSUME(T.Decline);
    this.CONSUME(T.Reasons);
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      DEF: () => this.OR([{ ALT: () => this.CONSUME(T.StringLit) }, { ALT: () => this.CONSUME(T.Other) }]),
    });
  });

  ruleDecl = this.RULE("ruleDecl", () => {
    this.CONSUME(T.Rule);
    this.CONSUME(T.StringLit, { LABEL: "name" });
    this.OPTION(() => this.CONSUME(T.Colon));
    this.CONSUME(T.Require);
    this.SUBRULE(this.expression);
    this.CONSUME(T.Else);
    this.CONSUME(T.Reject);
    this.CONSUME2(T.StringLit, { LABEL: "message" });
  });

  handlerDecl = this.RULE("handlerDecl", () => {
    this.CONSUME(T.On);
    this.OR([
      { ALT: () => this.CONSUME(T.Completed, { LABEL: "event" }) },
      { ALT: () => this.CONSUME(T.Declined, { LABEL: "event" }) },
      { ALT: () => this.CONSUME(T.Expired, { LABEL: "event" }) },
      { ALT: () => this.CONSUME(T.Cancelled, { LABEL: "event" }) },
      {
        ALT: () => {
          this.CONSUME(T.Transaction);
          this.CONSUME(T.Status);
          this.CONSUME(T.Changed);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Step);
          this.OPTION(() => this.CONSUME(T.Identifier, { LABEL: "stepName" }));
          this.CONSUME2(T.Completed, { LABEL: "stepCompleted" });
        },
      },
    ]);
    this.CONSUME(T.LBrace);
    this.MANY(() => {
      this.SUBRULE(this.action);
      this.OPTION2(() => this.CONSUME(T.Semicolon));
    });
    this.CONSUME(T.RBrace);
  });

  action = this.RULE("action", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Text);
          this.CONSUME(T.Customer);
          this.CONSUME(T.StringLit, { LABEL: "message" });
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Email);
          this.CONSUME2(T.Customer);
          this.CONSUME2(T.StringLit, { LABEL: "message" });
          this.OPTION(() => {
            this.CONSUME(T.Subject);
            this.CONSUME3(T.StringLit, { LABEL: "subject" });
          });
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Notify);
          this.CONSUME(T.Business);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Tag);
          this.OR2([{ ALT: () => this.CONSUME(T.Identifier) }, { ALT: () => this.CONSUME4(T.StringLit) }]);
        },
      },
    ]);
  });

  // ---- expressions, lowest precedence first ----

  expression = this.RULE("expression", () => {
    this.AT_LEAST_ONE_SEP({ SEP: T.Or, DEF: () => this.SUBRULE(this.andExpr) });
  });

  andExpr = this.RULE("andExpr", () => {
    this.AT_LEAST_ONE_SEP({ SEP: T.And, DEF: () => this.SUBRULE(this.notExpr) });
  });

  notExpr = this.RULE("notExpr", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Not);
          this.SUBRULE(this.notExpr);
        },
      },
      { ALT: () => this.SUBRULE(this.cmpExpr) },
    ]);
  });

  cmpExpr = this.RULE("cmpExpr", () => {
    this.SUBRULE(this.addExpr);
    this.OPTION(() => {
      this.OR([
        {
          ALT: () => {
            this.CONSUME(T.CmpOp);
            this.SUBRULE2(this.addExpr);
          },
        },
        {
          ALT: () => {
            this.OPTION2(() => this.CONSUME(T.Not));
            this.CONSUME(T.In);
            this.CONSUME(T.LParen);
            this.AT_LEAST_ONE_SEP({
              SEP: T.Comma,
              DEF: () => this.SUBRULE3(this.addExpr, { LABEL: "list" }),
            });
            this.CONSUME(T.RParen);
          },
        },
      ]);
    });
  });

  addExpr = this.RULE("addExpr", () => {
    this.SUBRULE(this.mulExpr);
    this.MANY(() => {
      this.CONSUME(T.AddOp);
      this.SUBRULE2(this.mulExpr);
    });
  });

  mulExpr = this.RULE("mulExpr", () => {
    this.SUBRULE(this.unaryExpr);
    this.MANY(() => {
      this.CONSUME(T.MulOp);
      this.SUBRULE2(this.unaryExpr);
    });
  });

  unaryExpr = this.RULE("unaryExpr", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unaryExpr);
        },
      },
      { ALT: () => this.SUBRULE(this.primary) },
    ]);
  });

  primary = this.RULE("primary", () => {
    this.OR([
      { ALT: () => this.CONSUME(T.MoneyLit) },
      { ALT: () => this.CONSUME(T.DurationLit) },
      { ALT: () => this.CONSUME(T.NumberLit) },
      { ALT: () => this.CONSUME(T.StringLit) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      { ALT: () => this.CONSUME(T.Completed, { LABEL: "symbol" }) },
      { ALT: () => this.CONSUME(T.Declined, { LABEL: "symbol" }) },
      { ALT: () => this.CONSUME(T.Expired, { LABEL: "symbol" }) },
      { ALT: () => this.CONSUME(T.Cancelled, { LABEL: "symbol" }) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.expression);
          this.CONSUME(T.RParen);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.MANY(() => {
            this.CONSUME(T.Dot);
            this.CONSUME2(T.Identifier);
          });
        },
      },
    ]);
  });
}

/** One parser instance, reused (Chevrotain parsers are stateful but resettable via `input`). */
export const parser = new TemplateParser();
